namespace LoraServe.Engine.LoraBatching;

/// <summary>
/// dLoRA's credit-based dynamic batching (Wu et al., OSDI'24 §4; artifact `_credit_schedule`;
/// DESIGN §5.2), per iteration over the running set in FCFS order:
/// <list type="number">
/// <item>Starvation guard: adapters whose credit reached the trigger (or that are already being
/// served first and are still above the release level) run first.</item>
/// <item>Otherwise, with F the batch FCFS would run: stay merged on adapter a while a has
/// ≥ θ_L·|F| candidates; enter merged mode for the most-queued eligible adapter when it has
/// ≥ θ_R·|F| and the merge pays for itself (below); else run F unmerged.</item>
/// <item>Credit moves from every request that jumped ahead of F to the request it displaced, in
/// milliseconds of the step (see <see cref="CreditPolicyOptions"/>); merged steps that run fewer
/// requests than F charge the merged adapter for each displaced one. A starving adapter's request
/// that runs in its place in F during a guarded step repays one step to the most indebted adapter
/// (the one that jumped most): in the engine every candidate is in F, so without this nobody would
/// ever jump a starving adapter's requests forward and its credit would never come down. Credit is
/// conserved.</item>
/// <item>At every mode switch, θ_R/θ_L are retuned from the throughput each mode would have had
/// over the period just ended (counting the switches merged mode would have needed; merging the
/// adapter merged last is free, the runner keeps its matrices):
/// additively when the chosen mode won, multiplicatively when it lost.</item>
/// </list>
/// Base-model rows (no adapter) can never be merged; they count as adapter "" for credit.
///
/// One rule is ours, not dLoRA's: entering merged mode must pay back its merge within the work the
/// top adapter has left — (unmerged − merged time per token) × the tokens its requests in F still
/// have to run (this step's, plus at most one per remaining output token) and its waiting requests'
/// prompt + max output ≥ twice the merge's estimated cost (zero when re-merging the adapter merged
/// last). On this machine a merge costs as much as several steps (0.3 s vs ~50 ms), and dLoRA's
/// count rule alone merges whenever F is small — one lone request satisfies ≥ θ_R·|F| — paying a
/// merge to save a fraction of a step. The thresholds' tuning only corrects that after the fact.
/// </summary>
public sealed class CreditLoraPolicy : ILoraBatchingPolicy
{
    public const string PolicyName = "dlora";
    private const string BaseKey = "";

    private readonly Dictionary<string, double> _credit = new(StringComparer.Ordinal);
    private readonly HashSet<string> _starving = new(StringComparer.Ordinal);
    private readonly CreditPolicyOptions _options;

    // Period bookkeeping for threshold tuning (dLoRA §4.2 "break points").
    private int _iterations;
    private double _mergedServed, _unmergedServed;
    private double _mergedSeconds, _unmergedSeconds, _virtualSwitchSeconds;
    private double _periodMergeSeconds;
    private string? _previousTop, _lastMerged;

    public CreditLoraPolicy(LoraCostModel costs, CreditPolicyOptions? options = null)
    {
        Costs = costs;
        _options = options ?? new CreditPolicyOptions();
        _options.Validate();
        EnterThreshold = _options.InitialEnterThreshold;
        // The artifact starts θ_L at ρ: staying merged pays while the merged batch, though smaller
        // than F, serves at least as many requests per second as F would unmerged.
        LeaveThreshold = Math.Min(costs.ReferenceRatio, EnterThreshold - _options.AdditiveStep);
    }

    public string Name => PolicyName;

    public LoraCostModel Costs { get; }

    /// <summary>θ_R: enter merged mode at ≥ θ_R·|F| candidates of one adapter.</summary>
    public double EnterThreshold { get; private set; }

    /// <summary>θ_L: stay merged while ≥ θ_L·|F| candidates of the merged adapter remain.</summary>
    public double LeaveThreshold { get; private set; }

    public LoraExecutionMode Mode { get; private set; } = LoraExecutionMode.Unmerged;

    public string? MergedAdapter { get; private set; }

    /// <summary>Credit in ms of extra waiting (adapter "" = base model); absent = 0.</summary>
    public double CreditOf(string? adapter) => _credit.GetValueOrDefault(adapter ?? BaseKey);

    public IReadOnlyDictionary<string, double> Credits => _credit;

    /// <summary>Adapters currently served first by the starvation guard.</summary>
    public IReadOnlySet<string> Starving => _starving;

    public LoraBatchPlan Plan(IReadOnlyList<LoraCandidate> candidates, int maxBatch)
    {
        if (maxBatch < 1) throw new ArgumentOutOfRangeException(nameof(maxBatch));
        int fcfs = Math.Min(candidates.Count, maxBatch);
        if (fcfs == 0) return new LoraBatchPlan(Mode, MergedAdapter, []);

        var groups = Group(candidates);
        var guarded = StarvationGuard(groups, maxBatch);
        LoraBatchPlan plan;
        if (guarded.Count == 0) plan = ChooseMode(groups, fcfs, maxBatch, candidates);
        else
        {
            // Starving adapters first, then FCFS fills what is left; always unmerged.
            var chosen = new HashSet<int>(guarded);
            for (int i = 0; i < candidates.Count && guarded.Count < maxBatch; i++)
                if (chosen.Add(i)) guarded.Add(i);
            guarded.Sort();
            SwitchTo(LoraExecutionMode.Unmerged, null);
            plan = new LoraBatchPlan(LoraExecutionMode.Unmerged, null, guarded);
            Repay(candidates, fcfs, plan);
        }
        TransferCredit(candidates, fcfs, plan);
        return plan;
    }

    public void OnStepCompleted(IReadOnlyList<LoraCandidate> candidates, LoraBatchPlan plan, double seconds) =>
        Costs.ObserveStep(plan.Mode, candidates, plan.Selected, seconds);

    public void OnSwitchCompleted(AdapterProfile profile, double seconds) => Costs.ObserveSwitch(profile, seconds);

    private LoraBatchPlan ChooseMode(Dictionary<string, List<int>> groups, int fcfs, int maxBatch, IReadOnlyList<LoraCandidate> candidates)
    {
        // The most-queued adapter allowed to merge (ties: the one whose oldest request is oldest).
        string? top = null;
        foreach (var (adapter, rows) in groups)
        {
            if (adapter == BaseKey || CreditOf(adapter) < _options.MergeEligibilityFloorMs) continue;
            if (top is null || rows.Count > groups[top].Count || (rows.Count == groups[top].Count && rows[0] < groups[top][0])) top = adapter;
        }
        int topCount = top is null ? 0 : groups[top].Count;
        var f = new int[fcfs];
        for (int i = 0; i < fcfs; i++) f[i] = i;
        // What each mode would have done this iteration, for the retune at the next switch.
        _unmergedServed += fcfs;
        _unmergedSeconds += Costs.StepSeconds(LoraExecutionMode.Unmerged, candidates, f);
        if (top is not null)
        {
            _mergedServed += Math.Min(topCount, maxBatch);
            _mergedSeconds += Costs.StepSeconds(LoraExecutionMode.Merged, candidates, First(groups[top], maxBatch));
        }
        else _mergedSeconds += Costs.StepSeconds(LoraExecutionMode.Unmerged, candidates, f); // nothing to merge: merged mode would run F

        if (Mode == LoraExecutionMode.Merged && MergedAdapter is { } a && groups.TryGetValue(a, out var mergedRows)
            && CreditOf(a) >= _options.MergeEligibilityFloorMs && mergedRows.Count >= LeaveThreshold * fcfs)
        {
            _iterations++;
            return new LoraBatchPlan(LoraExecutionMode.Merged, a, First(mergedRows, maxBatch));
        }
        if (top is not null && topCount >= EnterThreshold * fcfs && MergePaysBack(top, groups[top], f, maxBatch, candidates))
        {
            double merge = MergeSeconds(top, candidates[groups[top][0]].Profile);
            SwitchTo(LoraExecutionMode.Merged, top);
            _periodMergeSeconds = merge;
            _lastMerged = top;
            return new LoraBatchPlan(LoraExecutionMode.Merged, top, First(groups[top], maxBatch));
        }
        // A virtual switch: merged mode would have had to switch to the new top adapter here.
        if (Mode == LoraExecutionMode.Unmerged && top is not null && top != _previousTop)
            _virtualSwitchSeconds += MergeSeconds(top, candidates[groups[top][0]].Profile);
        _previousTop = top;
        SwitchTo(LoraExecutionMode.Unmerged, null);
        return new LoraBatchPlan(LoraExecutionMode.Unmerged, null, f);
    }

    /// <summary>
    /// The saving must cover the merge this many times: it is an upper bound (remaining tokens are
    /// max_tokens, and a displaced adapter's credit may end the merged period early), and the merge
    /// estimate comes from a start-up calibration on a shared machine.
    /// </summary>
    private const double PayBackFactor = 2;

    /// <summary>Whether merging <paramref name="top"/> saves, over its requests' remaining steps, at least twice the merge's cost.</summary>
    private bool MergePaysBack(string top, List<int> rows, int[] f, int maxBatch, IReadOnlyList<LoraCandidate> candidates)
    {
        double merge = MergeSeconds(top, candidates[rows[0]].Profile);
        if (merge <= 0) return true;
        var merged = First(rows, maxBatch);
        double tokensF = 0, tokensMerged = 0, future = 0;
        foreach (int i in f) tokensF += candidates[i].Tokens;
        foreach (int i in merged)
        {
            var c = candidates[i];
            if (c.RemainingSteps <= 0) return true; // unknown: dLoRA's count rule alone
            tokensMerged += c.Tokens;
            future += c.Tokens + (c.RemainingSteps - 1);
        }
        future += candidates[rows[0]].AdapterWaitingWork; // its queued requests would run merged too
        double perTokenUnmerged = Costs.StepSeconds(LoraExecutionMode.Unmerged, candidates, f) / tokensF;
        double perTokenMerged = Costs.StepSeconds(LoraExecutionMode.Merged, candidates, merged) / tokensMerged;
        return (perTokenUnmerged - perTokenMerged) * future >= PayBackFactor * merge;
    }

    /// <summary>Merging the adapter merged last costs nothing: the runner kept its matrices.</summary>
    private double MergeSeconds(string adapter, AdapterProfile profile) => adapter == _lastMerged ? 0 : Costs.SwitchSeconds(profile);

    /// <summary>Each starving adapter's request that runs within F repays one step to the adapter with the lowest credit.</summary>
    private void Repay(IReadOnlyList<LoraCandidate> candidates, int fcfs, LoraBatchPlan plan)
    {
        double stepMs = 1000 * Costs.StepSeconds(plan.Mode, candidates, plan.Selected);
        foreach (int i in plan.Selected)
        {
            if (i >= fcfs) continue; // a jumper: TransferCredit charges it
            string payer = Key(candidates[i].Adapter);
            if (!_starving.Contains(payer) || CreditOf(payer) <= 0) continue;
            string? debtor = null;
            foreach (var (adapter, c) in _credit)
                if (c < 0 && (debtor is null || c < _credit[debtor])) debtor = adapter;
            if (debtor is null) return;
            double amount = Math.Min(stepMs, Math.Min(CreditOf(payer), -CreditOf(debtor)));
            _credit[payer] = CreditOf(payer) - amount;
            _credit[debtor] = CreditOf(debtor) + amount;
        }
    }

    private List<int> StarvationGuard(Dictionary<string, List<int>> groups, int maxBatch)
    {
        var byCredit = new List<string>(groups.Keys);
        byCredit.Sort((x, y) => CreditOf(y).CompareTo(CreditOf(x)));
        var chosen = new List<int>();
        var nowStarving = new HashSet<string>(StringComparer.Ordinal);
        foreach (var adapter in byCredit)
        {
            double c = CreditOf(adapter);
            if (c < _options.StarvationReleaseMs) break;
            if (c < _options.StarvationTriggerMs && !_starving.Contains(adapter)) continue;
            nowStarving.Add(adapter);
            foreach (int row in groups[adapter])
            {
                if (chosen.Count == maxBatch) break;
                chosen.Add(row);
            }
            if (chosen.Count == maxBatch) break;
        }
        _starving.Clear();
        _starving.UnionWith(nowStarving);
        return chosen;
    }

    /// <summary>
    /// Pairs each scheduled request outside F (a jumper) with an F request left out (displaced):
    /// the jumper's adapter pays one step of waiting to the displaced one's. Displaced requests with
    /// no jumper to pair with (a merged step smaller than F) are paid by the merged adapter.
    /// </summary>
    private void TransferCredit(IReadOnlyList<LoraCandidate> candidates, int fcfs, LoraBatchPlan plan)
    {
        double stepMs = 1000 * Costs.StepSeconds(plan.Mode, candidates, plan.Selected);
        var scheduled = new HashSet<int>(plan.Selected);
        var jumpers = new Queue<int>();
        foreach (int i in plan.Selected) if (i >= fcfs) jumpers.Enqueue(i);
        for (int i = 0; i < fcfs; i++)
        {
            if (scheduled.Contains(i)) continue;
            string payer = jumpers.TryDequeue(out int j) ? Key(candidates[j].Adapter) : Key(plan.MergedAdapter);
            string payee = Key(candidates[i].Adapter);
            if (payer == payee) continue;
            _credit[payer] = CreditOf(payer) - stepMs;
            _credit[payee] = CreditOf(payee) + stepMs;
        }
    }

    private void SwitchTo(LoraExecutionMode mode, string? adapter)
    {
        if (mode == Mode && adapter == MergedAdapter)
        {
            _iterations++;
            return;
        }
        bool changesMode = mode != Mode || (mode == LoraExecutionMode.Merged && adapter != MergedAdapter);
        if (changesMode) Retune();
        Mode = mode;
        MergedAdapter = adapter;
        _iterations = 1;
    }

    /// <summary>
    /// dLoRA §4.2 / artifact `_adjust_merge_threshold`, over the period that just ended: the
    /// requests each mode would have served per second, from the cost model's estimate of every
    /// iteration in both modes. A merged period pays the merge it began with (nothing when it
    /// re-merged the adapter merged last); in an unmerged period, merged mode is charged the merges
    /// it would have made whenever the most-queued adapter changed (virtual switches). Unmerging
    /// costs nothing: the runner swaps the base matrices back.
    /// </summary>
    private void Retune()
    {
        if (_iterations > 0 && _mergedSeconds > 0 && _unmergedSeconds > 0)
        {
            double tMerged = _mergedSeconds, tUnmerged = _unmergedSeconds;
            // A merged period paid the merge it began with; unmerging is free.
            if (Mode == LoraExecutionMode.Merged) tMerged += _periodMergeSeconds;
            else tMerged += _virtualSwitchSeconds;
            double xMerged = _mergedServed / tMerged, xUnmerged = _unmergedServed / tUnmerged;
            double add = _options.AdditiveStep, mul = _options.MultiplicativeStep;
            if (Mode == LoraExecutionMode.Merged)
            {
                if (xMerged > xUnmerged && EnterThreshold - add > LeaveThreshold) EnterThreshold -= add;
                else if (xMerged < xUnmerged) EnterThreshold *= mul;
            }
            else
            {
                if (xUnmerged > xMerged && LeaveThreshold + add < EnterThreshold) LeaveThreshold += add;
                else if (xUnmerged < xMerged) LeaveThreshold /= mul;
            }
        }
        _mergedServed = _unmergedServed = 0;
        _mergedSeconds = _unmergedSeconds = _virtualSwitchSeconds = 0;
    }

    private static Dictionary<string, List<int>> Group(IReadOnlyList<LoraCandidate> candidates)
    {
        var groups = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        for (int i = 0; i < candidates.Count; i++)
        {
            string key = Key(candidates[i].Adapter);
            if (!groups.TryGetValue(key, out var list)) groups[key] = list = [];
            list.Add(i);
        }
        return groups;
    }

    private static int[] First(List<int> rows, int n) => rows.Count <= n ? [.. rows] : rows.GetRange(0, n).ToArray();

    private static string Key(string? adapter) => adapter ?? BaseKey;
}
