namespace LoraServe.Engine.LoraBatching;

/// <summary>Baseline: always a heterogeneous unmerged batch of the oldest candidates (S-LoRA / Punica).</summary>
public sealed class UnmergedOnlyPolicy : ILoraBatchingPolicy
{
    public const string PolicyName = "unmerged";

    public string Name => PolicyName;

    public LoraBatchPlan Plan(IReadOnlyList<LoraCandidate> candidates, int maxBatch)
    {
        int n = Math.Min(candidates.Count, maxBatch);
        var selected = new int[n];
        for (int i = 0; i < n; i++) selected[i] = i;
        return new LoraBatchPlan(LoraExecutionMode.Unmerged, null, selected);
    }

    public void OnStepCompleted(IReadOnlyList<LoraCandidate> candidates, LoraBatchPlan plan, double seconds) { }

    public void OnSwitchCompleted(AdapterProfile profile, double seconds) { }
}
