namespace LoraServe.Engine.Workload;

/// <summary>How `loraserve bench` runs a workload: engine limits, policies to compare, SLOs and report windows.</summary>
public sealed record BenchOptions
{
    public required string ModelDirectory { get; init; }
    public required string OutputDirectory { get; init; }

    /// <summary>Policies run one after another on the same trace.</summary>
    public IReadOnlyList<string> Policies { get; init; } = ["fcfs", "vtc"];

    /// <summary>LoRA batching policies (--lora-policy names); every fairness policy runs under each.</summary>
    public IReadOnlyList<string> LoraPolicies { get; init; } = [LoraBatching.LoraBatchingPolicies.Unmerged];

    public int NumKvBlocks { get; init; } = 256;
    public int BlockSize { get; init; } = 16;
    public int MaxNumSeqs { get; init; } = 16;
    public int MaxNumBatchedTokens { get; init; } = 256;
    public int MaxLoras { get; init; }
    public int AdapterRank { get; init; } = 8;
    public double InputWeight { get; init; } = 1;
    public double OutputWeight { get; init; } = 2;
    public int RequestsPerMinute { get; init; } = 30;

    /// <summary>After the last arrival, wait at most this long for in-flight requests, then cancel them.</summary>
    public double DrainSeconds { get; init; }

    /// <summary>Time-to-first-token SLO (seconds).</summary>
    public double SloTtft { get; init; } = 2;

    /// <summary>Per-output-token latency SLO (seconds).</summary>
    public double SloTpot { get; init; } = 0.2;

    /// <summary>Width of the sliding window for service rates (the paper's 60 s window, scaled to short runs).</summary>
    public double WindowSeconds { get; init; } = 10;

    public double SampleSeconds { get; init; } = 0.25;

    /// <summary>Seconds of untimed load before the first policy's run (JIT tiering, page faults).</summary>
    public double WarmupSeconds { get; init; } = 5;
}
