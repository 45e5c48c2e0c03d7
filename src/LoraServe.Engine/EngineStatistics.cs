namespace LoraServe.Engine;

/// <summary>Token and request totals of one tenant (or one adapter) since the engine started.</summary>
public sealed record ServiceCounters
{
    /// <summary>Prompt tokens of requests admitted (counted once per request, not again on recompute).</summary>
    public long PromptTokens { get; init; }

    public long GeneratedTokens { get; init; }
    public long FinishedRequests { get; init; }
    public int Waiting { get; init; }
    public int Running { get; init; }

    /// <summary>The fairness policy's virtual token counter; NaN for policies without one.</summary>
    public double VirtualCounter { get; init; } = double.NaN;
}

/// <summary>A snapshot for metrics (/metrics, bench progress): queue depth, batch, KV usage, per-tenant and per-adapter service.</summary>
public sealed record EngineStatistics
{
    public int Waiting { get; init; }
    public int Running { get; init; }
    public int KvBlocksUsed { get; init; }
    public int KvBlocksTotal { get; init; }
    public double KvUsage => KvBlocksTotal == 0 ? 0 : (double)KvBlocksUsed / KvBlocksTotal;
    public long Steps { get; init; }

    /// <summary>Tokens run through the model (prefill chunks, recomputation and decode tokens), over all steps.</summary>
    public long ScheduledTokens { get; init; }
    public long Preemptions { get; init; }
    public long PromptTokens { get; init; }
    public long GeneratedTokens { get; init; }
    public long FinishedRequests { get; init; }

    /// <summary>Steps that ran nothing while requests waited — work conservation says this stays 0.</summary>
    public long IdleStepsWhileWaiting { get; init; }

    /// <summary>--lora-policy in force.</summary>
    public string LoraPolicy { get; init; } = "unmerged";

    /// <summary>Steps that ran with an adapter merged into the weights.</summary>
    public long MergedSteps { get; init; }

    /// <summary>Adapter merges performed (each is later undone by one unmerge).</summary>
    public long LoraMerges { get; init; }

    /// <summary>The adapter merged into the weights now, or null.</summary>
    public string? MergedAdapter { get; init; }

    public IReadOnlyDictionary<string, ServiceCounters> Tenants { get; init; } = new Dictionary<string, ServiceCounters>();

    /// <summary>By adapter name; the base model is "".</summary>
    public IReadOnlyDictionary<string, ServiceCounters> Adapters { get; init; } = new Dictionary<string, ServiceCounters>();
}
