namespace LoraServe.Engine.LoraBatching;

/// <summary>
/// Baseline: PEFT-style, one adapter per batch. The oldest candidate's adapter is merged (or the
/// plain base runs, when the oldest has none) and only candidates of that adapter run.
/// </summary>
public sealed class MergedOnlyPolicy : ILoraBatchingPolicy
{
    public const string PolicyName = "merged";

    public string Name => PolicyName;

    public LoraBatchPlan Plan(IReadOnlyList<LoraCandidate> candidates, int maxBatch)
    {
        if (candidates.Count == 0) return new LoraBatchPlan(LoraExecutionMode.Unmerged, null, []);
        string? adapter = candidates[0].Adapter;
        var selected = new List<int>();
        for (int i = 0; i < candidates.Count && selected.Count < maxBatch; i++)
            if (candidates[i].Adapter == adapter) selected.Add(i);
        return adapter is null
            ? new LoraBatchPlan(LoraExecutionMode.Unmerged, null, selected)
            : new LoraBatchPlan(LoraExecutionMode.Merged, adapter, selected);
    }

    public void OnStepCompleted(IReadOnlyList<LoraCandidate> candidates, LoraBatchPlan plan, double seconds) { }

    public void OnSwitchCompleted(AdapterProfile profile, double seconds) { }
}
