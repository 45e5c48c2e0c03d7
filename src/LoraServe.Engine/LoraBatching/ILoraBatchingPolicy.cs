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

    /// <summary>The measured time of the forward step that ran <paramref name="plan"/> over <paramref name="candidates"/> (refines the cost model).</summary>
    void OnStepCompleted(IReadOnlyList<LoraCandidate> candidates, LoraBatchPlan plan, double seconds);

    /// <summary>A merge of an adapter with <paramref name="profile"/> that computed its matrices took <paramref name="seconds"/>.</summary>
    void OnSwitchCompleted(AdapterProfile profile, double seconds);
}
