using LoraServe.Engine.LoraBatching;
using LoraServe.Engine.Scheduling;

namespace LoraServe.Engine;

/// <summary>Engine settings: KV pool, batch limits, fairness policy (flags as in vLLM where one exists).</summary>
public sealed record EngineOptions
{
    /// <summary>KV cache blocks in the pool (the VTC bound's M = NumKvBlocks·BlockSize tokens).</summary>
    public int NumKvBlocks { get; init; } = 512;

    /// <summary>--block-size: token positions per KV block.</summary>
    public int BlockSize { get; init; } = 16;

    /// <summary>Share of KV blocks new admissions leave free for running sequences to grow into.</summary>
    public double KvWatermark { get; init; } = 0.01;

    public SchedulerOptions Scheduler { get; init; } = new();

    /// <summary>--scheduling-policy: one of <see cref="FairnessPolicies.Names"/>.</summary>
    public string Policy { get; init; } = FairnessPolicies.Fcfs;

    public FairnessOptions Fairness { get; init; } = new();

    /// <summary>--lora-policy: how the running set executes its adapters, one of <see cref="LoraBatchingPolicies.Names"/>.</summary>
    public string LoraPolicy { get; init; } = LoraBatchingPolicies.Unmerged;

    public CreditPolicyOptions LoraCredit { get; init; } = new();

    /// <summary>The dlora policy's cost model; null = calibrate on this machine when the engine starts.</summary>
    public LoraCostModel? LoraCosts { get; init; }

    /// <summary>Token ids that end generation unless a request sets ignore_eos (the model's EOS ids).</summary>
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];

    /// <summary>Engine clock in seconds (rate limits, statistics); a monotonic stopwatch by default. Tests pass their own.</summary>
    public Func<double>? Clock { get; init; }

    public void Validate()
    {
        if (NumKvBlocks < 1) throw new ArgumentException($"the KV pool needs ≥ 1 block, got {NumKvBlocks}");
        if (BlockSize < 1) throw new ArgumentException($"--block-size must be ≥ 1, got {BlockSize}");
        Scheduler.Validate();
        Fairness.Validate();
        if (!FairnessPolicies.Names.Contains(Policy))
            throw new ArgumentException($"unknown scheduling policy '{Policy}'; expected one of: {string.Join(", ", FairnessPolicies.Names)}");
        if (!LoraBatchingPolicies.Names.Contains(LoraPolicy))
            throw new ArgumentException($"unknown LoRA policy '{LoraPolicy}'; expected one of: {string.Join(", ", LoraBatchingPolicies.Names)}");
        LoraCredit.Validate();
    }
}
