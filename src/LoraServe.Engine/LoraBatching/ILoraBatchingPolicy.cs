namespace LoraServe.Engine.LoraBatching;

/// <summary>
/// Decides, every iteration, how the running set executes: which of the candidates (the sequences
/// the fairness policy let in, oldest first) run this step and whether one adapter is merged.
/// Fairness decides *who* is in the running set; this decides *how* it runs (DESIGN §5.2).
/// </summary>
public interface ILoraBatchingPolicy
{
    string Name { get; }

    /// <summary>The plan for this step; <paramref name="maxBatch"/> bounds how many candidates may run.</summary>
    LoraBatchPlan Plan(IReadOnlyList<LoraCandidate> candidates, int maxBatch);

    /// <summary>The measured time of the step that ran <paramref name="plan"/> (refines the cost model).</summary>
    void OnStepCompleted(LoraBatchPlan plan, int distinctAdapters, double seconds);
}
