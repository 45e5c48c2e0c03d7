namespace LoraServe.Engine.Workload;

/// <summary>p50/p90/p99 and mean of a latency, in seconds (NaN when there were no samples).</summary>
public sealed record Percentiles(int Count, double Mean, double P50, double P90, double P99);

/// <summary>One tenant's share of a run.</summary>
public sealed record TenantSummary
{
    public required string Tenant { get; init; }
    public double Weight { get; init; }
    public int Requests { get; init; }
    public int Finished { get; init; }
    public long PromptTokens { get; init; }
    public long GeneratedTokens { get; init; }

    /// <summary>w_p·prompt + w_q·generated served within the arrival window, per second.</summary>
    public double ServiceRate { get; init; }

    public double ServiceRatePerWeight { get; init; }
    public required Percentiles Ttft { get; init; }
    public required Percentiles Tpot { get; init; }
    public double SloAttainment { get; init; }
}

/// <summary>The requests of one adapter ("" = the base model) in a run: how they were served.</summary>
public sealed record AdapterSummary
{
    public required string Adapter { get; init; }
    public int Requests { get; init; }
    public int Finished { get; init; }
    public long GeneratedTokens { get; init; }
    public required Percentiles Ttft { get; init; }

    /// <summary>Per-output-token latency of the adapter's finished requests.</summary>
    public required Percentiles Tpot { get; init; }
}

/// <summary>The JSON report of one policy's run (bench writes one per policy plus a combined file).</summary>
public sealed record BenchSummary
{
    public required string Policy { get; init; }
    public double Duration { get; init; }
    public double WallSeconds { get; init; }
    public int Requests { get; init; }
    public int Finished { get; init; }
    public int Rejected { get; init; }
    public int Unfinished { get; init; }

    /// <summary>Prompt + generated tokens served during the arrival window, per second (the paper's throughput, unweighted).</summary>
    public double ThroughputTokensPerSecond { get; init; }

    public double OutputTokensPerSecond { get; init; }
    public double RequestsPerSecond { get; init; }
    public required Percentiles Ttft { get; init; }
    public required Percentiles Tpot { get; init; }
    public required Percentiles Latency { get; init; }

    /// <summary>Share of requests with TTFT ≤ SloTtft and per-output-token latency ≤ SloTpot (unserved requests miss).</summary>
    public double SloAttainment { get; init; }

    public double SloTtft { get; init; }
    public double SloTpot { get; init; }

    /// <summary>Largest max−min over tenants of accumulated weighted service divided by weight, during the arrival window (vtc.md §7).</summary>
    public double MaxAccumulatedServiceDifference { get; init; }

    /// <summary>The paper's table metric Σ_j min(s_max − s_j, |r_j − s_j|) over window ticks: max, mean, variance.</summary>
    public double ServiceDifferenceMax { get; init; }

    public double ServiceDifferenceAvg { get; init; }
    public double ServiceDifferenceVar { get; init; }
    public long Preemptions { get; init; }

    /// <summary>Engine steps in the run and tokens per step: the work per forward, independent of machine speed.</summary>
    public long Steps { get; init; }

    public double TokensPerStep { get; init; }

    /// <summary>--lora-policy of the run, steps it ran merged, and merges it performed.</summary>
    public string LoraPolicy { get; init; } = "unmerged";

    public long MergedSteps { get; init; }
    public long LoraMerges { get; init; }
    public required IReadOnlyList<TenantSummary> Tenants { get; init; }

    /// <summary>By adapter, most requested first.</summary>
    public IReadOnlyList<AdapterSummary> Adapters { get; init; } = [];
}
