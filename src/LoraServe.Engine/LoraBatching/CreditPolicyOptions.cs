namespace LoraServe.Engine.LoraBatching;

/// <summary>
/// Knobs of the dLoRA credit policy. Credit is measured in milliseconds of extra waiting: when a
/// request is displaced for one step, its adapter gains the step's estimated duration and the
/// adapter that jumped ahead loses it. So "starvation trigger 500" reads as "an adapter whose
/// requests have, summed, waited half a second longer than FCFS would have made them wait is
/// served first" — a unit a person can reason about (the artifact's 10000·N credits were not).
/// </summary>
public sealed record CreditPolicyOptions
{
    /// <summary>CR_R: credit (ms) at which an adapter's requests jump to the front.</summary>
    public double StarvationTriggerMs { get; init; } = 500;

    /// <summary>CR_L: an adapter already being served first stays first until its credit drops below this (hysteresis).</summary>
    public double StarvationReleaseMs { get; init; } = 250;

    /// <summary>An adapter that has jumped ahead by more than this (negative credit, ms) may not be merged.</summary>
    public double MergeEligibilityFloorMs { get; init; } = -500;

    /// <summary>θ_R at start: enter merged mode when the top adapter has ≥ θ_R·|F| candidates.</summary>
    public double InitialEnterThreshold { get; init; } = 1.0;

    /// <summary>Additive and multiplicative steps of the threshold tuning (dLoRA artifact: 0.05, 1.1).</summary>
    public double AdditiveStep { get; init; } = 0.05;

    public double MultiplicativeStep { get; init; } = 1.1;

    public void Validate()
    {
        if (!(StarvationReleaseMs > 0 && StarvationTriggerMs > StarvationReleaseMs))
            throw new ArgumentException($"starvation trigger ({StarvationTriggerMs} ms) must exceed the release level ({StarvationReleaseMs} ms) > 0");
        if (!(MergeEligibilityFloorMs < 0)) throw new ArgumentException("the merge eligibility floor must be negative");
        if (!(InitialEnterThreshold > 0)) throw new ArgumentException("θ_R must be positive");
        if (!(AdditiveStep > 0) || !(MultiplicativeStep > 1)) throw new ArgumentException("tuning steps must be > 0 and > 1");
    }
}
