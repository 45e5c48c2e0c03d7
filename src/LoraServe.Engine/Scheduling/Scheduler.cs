using LoraServe.Engine.Kv;
using LoraServe.Engine.LoraBatching;
using LoraServe.Engine.Requests;
using LoraServe.Lora.Adapters;

namespace LoraServe.Engine.Scheduling;

/// <summary>
/// Iteration-level ("continuous") batching over the paged KV cache (DESIGN §3, §5). Each step:
/// <list type="number">
/// <item>Running sequences, oldest admission first, get their next tokens out of the step's token
/// budget: one for decoding sequences, a prefill chunk for those still prefilling. When the KV pool
/// cannot cover them, the most recently admitted sequence is preempted by recompute (its blocks
/// freed, it returns to the head of its fairness queue) until it can — vLLM's policy.</item>
/// <item>If nothing was preempted, waiting requests are admitted in the fairness policy's order
/// while there is room (sequence slots, tokens in the budget, KV blocks for the whole prompt above
/// the watermark). The first request that does not fit ends admission (VTC Alg. 2).</item>
/// <item>With a LoRA policy (DESIGN §5.2), the step built so far is F, the batch FCFS would run;
/// the policy chooses which of F's chunks run and whether one adapter runs merged. The others
/// keep their place and blocks in the running set and wait for a later step.</item>
/// </list>
/// Fairness decides who enters the running set; the LoRA policy only decides how (and in which
/// step) the running set executes, so the policy's order of admission — VTC's counters — is
/// untouched (docs/lora-batching.md).
/// Submission validation guarantees any single request fits the empty pool, so the scheduler
/// never produces an empty step while anything is waiting or running (work conservation, §5.1).
/// Not thread-safe: the engine thread drives it; tests drive it without a model.
/// </summary>
public sealed class Scheduler
{
    private readonly List<Sequence> _running = [];
    private readonly Dictionary<LoraAdapter, int> _runningAdapters = new(ReferenceEqualityComparer.Instance);
    private readonly SchedulerStep _step = new();
    private readonly List<ScheduledChunk> _unfiltered = [];
    private readonly AdapterKeys _adapterKeys = new();
    // Work (prompt + max output tokens) of the waiting requests of each adapter: what a merged
    // adapter could still run once admitted — the LoRA policy's horizon for a merge's pay-back.
    private readonly Dictionary<LoraAdapter, long> _waitingWork = new(ReferenceEqualityComparer.Instance);

    public Scheduler(SchedulerOptions options, KvBlockManager blocks, IFairnessPolicy policy, ILoraBatchingPolicy? loraPolicy = null)
    {
        options.Validate();
        Options = options;
        Blocks = blocks;
        Policy = policy;
        LoraPolicy = loraPolicy;
    }

    /// <summary>How the running set executes (merged/unmerged); null = every chunk runs unmerged.</summary>
    public ILoraBatchingPolicy? LoraPolicy { get; }

    /// <summary>Keys and cost profiles of the adapters the LoRA policy has seen.</summary>
    public AdapterKeys AdapterKeys => _adapterKeys;

    public SchedulerOptions Options { get; }
    public KvBlockManager Blocks { get; }
    public IFairnessPolicy Policy { get; }

    public IReadOnlyList<Sequence> Running => _running;

    public int WaitingCount => Policy.WaitingCount;

    public bool HasWork => _running.Count > 0 || Policy.WaitingCount > 0;

    public long TotalPreemptions { get; private set; }

    /// <summary>Whether a request of <paramref name="promptTokens"/> + <paramref name="maxOutputTokens"/> can ever run alone.</summary>
    public string? CheckFits(int promptTokens, int maxOutputTokens)
    {
        if (!Blocks.CanEverAllocate(promptTokens + maxOutputTokens))
            return $"the request needs KV for {promptTokens} prompt + {maxOutputTokens} output tokens ({Blocks.BlocksFor(promptTokens + maxOutputTokens)} blocks of {Blocks.BlockSize}); the pool has {Blocks.TotalBlocks} blocks, {Blocks.WatermarkBlocks} kept as watermark";
        if (!Options.ChunkedPrefill && promptTokens + maxOutputTokens - 1 > Options.MaxNumBatchedTokens)
            return $"the request's prompt (up to {promptTokens + maxOutputTokens - 1} tokens when recomputed) exceeds --max-num-batched-tokens {Options.MaxNumBatchedTokens} and chunked prefill is off";
        return null;
    }

    /// <summary>Hands a new request to the fairness policy; false if the policy refuses it (rate limit).</summary>
    public bool Add(Sequence sequence, double now)
    {
        sequence.Status = SequenceStatus.Waiting;
        TrackWaiting(sequence, +1);
        return Policy.OnArrival(sequence, now);
    }

    /// <summary>Plans the next step. The returned object is reused by the next call.</summary>
    public SchedulerStep Schedule()
    {
        _step.Clear();
        int budget = Options.MaxNumBatchedTokens;
        for (int i = 0; i < _running.Count && budget > 0; i++)
        {
            var seq = _running[i];
            int n = Math.Min(seq.Length - seq.NumComputed, budget);
            int target = seq.NumComputed + n;
            bool selfPreempted = false;
            while (!Blocks.CanGrow(seq.Blocks, target))
            {
                var victim = _running[^1];
                Preempt(victim);
                if (ReferenceEquals(victim, seq)) { selfPreempted = true; break; }
            }
            if (selfPreempted) break;
            Blocks.Grow(seq.Blocks, target);
            Add(seq, n);
            budget -= n;
        }

        // vLLM admits nothing in a step that had to preempt: the pool is under pressure.
        if (_step.Preempted == 0)
        {
            while (_running.Count < Options.MaxNumSeqs && budget > 0)
            {
                var next = Policy.PeekNext();
                if (next is null) break;
                int length = next.Length;
                if (!Blocks.CanAllocate(length)) break;
                if (!Options.ChunkedPrefill && length > budget) break;
                if (!AdapterFits(next.Adapter)) break;
                Policy.OnAdmitted(next);
                TrackWaiting(next, -1);
                Blocks.Grow(next.Blocks, length);
                next.Status = SequenceStatus.Running;
                _running.Add(next);
                TrackAdapter(next.Adapter, +1);
                _step.Admitted++;
                int n = Math.Min(length, budget);
                Add(next, n);
                budget -= n;
            }
        }
        if (LoraPolicy is not null && !_step.IsEmpty) ApplyLoraPlan(LoraPolicy);
        return _step;
    }

    // F = the chunks built above; the step keeps the plan's selection of them, in F's order.
    private void ApplyLoraPlan(ILoraBatchingPolicy lora)
    {
        var chunks = _step.Chunks;
        var candidates = _step.Candidates;
        foreach (var c in chunks)
        {
            var a = c.Sequence.Adapter;
            candidates.Add(_adapterKeys.Candidate(a, c.Count, Math.Max(1, c.Sequence.MaxOutputTokens - c.Sequence.OutputCount),
                a is null ? 0 : _waitingWork.GetValueOrDefault(a)));
        }
        var plan = lora.Plan(candidates, candidates.Count);
        if (plan.Selected.Count == 0) throw new InvalidOperationException($"LoRA policy '{lora.Name}' selected nothing from {candidates.Count} candidates");
        _unfiltered.Clear();
        _unfiltered.AddRange(chunks);
        chunks.Clear();
        _step.TokenCount = 0;
        int previous = -1;
        foreach (int i in plan.Selected)
        {
            if (i <= previous || i >= _unfiltered.Count) throw new InvalidOperationException($"LoRA policy '{lora.Name}' selected candidate {i} out of order or range");
            previous = i;
            var c = _unfiltered[i];
            if (plan.Mode == LoraExecutionMode.Merged && candidates[i].Adapter != plan.MergedAdapter)
                throw new InvalidOperationException($"LoRA policy '{lora.Name}' merged '{plan.MergedAdapter}' but selected a request of '{candidates[i].Adapter ?? "the base model"}'");
            chunks.Add(c);
            _step.TokenCount += c.Count;
        }
        _step.LoraPlan = plan;
        _step.MergedAdapter = plan.Mode == LoraExecutionMode.Merged ? chunks[0].Sequence.Adapter : null;
    }

    /// <summary>
    /// Records that the step's chunks were computed. The caller then appends a sampled token to each
    /// chunk with Samples set and calls <see cref="OnTokenGenerated"/> for it.
    /// </summary>
    public void OnStepComputed(SchedulerStep step)
    {
        foreach (var c in step.Chunks) c.Sequence.NumComputed = c.Start + c.Count;
    }

    /// <summary>A token was appended to <paramref name="sequence"/>: the policy charges it (once).</summary>
    public void OnTokenGenerated(Sequence sequence) => Policy.OnTokenGenerated(sequence);

    /// <summary>Ends a request wherever it is (finished, cancelled, failed): leaves the batch or queue, frees its blocks.</summary>
    public void Finish(Sequence sequence, FinishReason reason)
    {
        if (sequence.Status == SequenceStatus.Finished) return;
        bool admitted = sequence.InputCharged || sequence.Status == SequenceStatus.Running;
        if (sequence.Status == SequenceStatus.Running)
        {
            _running.Remove(sequence);
            TrackAdapter(sequence.Adapter, -1);
        }
        else
        {
            Policy.RemoveWaiting(sequence);
            TrackWaiting(sequence, -1);
        }
        Blocks.Free(sequence.Blocks);
        sequence.Status = SequenceStatus.Finished;
        sequence.Finish = reason;
        if (admitted) Policy.OnFinished(sequence);
    }

    /// <summary>Distinct adapters in the running batch (each step runs all of them unmerged).</summary>
    public int RunningAdapterCount => _runningAdapters.Count;

    // --max-loras bounds the adapters one step carries (DESIGN §4 memory tiers): a request whose adapter
    // would be one too many does not fit, and like any request that does not fit it ends admission.
    private bool AdapterFits(LoraAdapter? adapter) =>
        adapter is null || Options.MaxLoras <= 0 || _runningAdapters.ContainsKey(adapter) || _runningAdapters.Count < Options.MaxLoras;

    private void TrackWaiting(Sequence s, int sign)
    {
        if (s.Adapter is not { } a) return;
        long n = _waitingWork.GetValueOrDefault(a) + sign * (long)(s.PromptLength + s.MaxOutputTokens);
        if (n <= 0) _waitingWork.Remove(a);
        else _waitingWork[a] = n;
    }

    private void TrackAdapter(LoraAdapter? adapter, int delta)
    {
        if (adapter is null) return;
        int n = _runningAdapters.GetValueOrDefault(adapter) + delta;
        if (n == 0) _runningAdapters.Remove(adapter);
        else _runningAdapters[adapter] = n;
    }

    private void Add(Sequence seq, int n)
    {
        _step.Chunks.Add(new ScheduledChunk(seq, seq.NumComputed, n, seq.NumComputed + n == seq.Length));
        _step.TokenCount += n;
    }

    private void Preempt(Sequence victim)
    {
        _running.RemoveAt(_running.Count - 1);
        TrackAdapter(victim.Adapter, -1);
        Blocks.Free(victim.Blocks);
        victim.NumComputed = 0;
        victim.Status = SequenceStatus.Waiting;
        victim.Preemptions++;
        Policy.OnPreempted(victim);
        TrackWaiting(victim, +1);
        _step.Preempted++;
        TotalPreemptions++;
    }
}
