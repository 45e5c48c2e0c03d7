namespace LoraServe.Engine.Scheduling;

/// <summary>Batch limits of the iteration-level scheduler, named after vLLM's flags.</summary>
public sealed record SchedulerOptions
{
    /// <summary>--max-num-seqs: sequences in the running batch at once.</summary>
    public int MaxNumSeqs { get; init; } = 64;

    /// <summary>--max-num-batched-tokens: tokens one forward step may carry (prefill chunks + decode tokens).</summary>
    public int MaxNumBatchedTokens { get; init; } = 512;

    /// <summary>Split long prompts over several steps; off, a prompt must fit the token budget in one step.</summary>
    public bool ChunkedPrefill { get; init; } = true;

    /// <summary>--max-loras: distinct adapters in the running batch at once; 0 = no limit.</summary>
    public int MaxLoras { get; init; }

    public void Validate()
    {
        if (MaxNumSeqs < 1) throw new ArgumentException($"--max-num-seqs must be ≥ 1, got {MaxNumSeqs}");
        if (MaxLoras < 0) throw new ArgumentException($"--max-loras must be ≥ 0, got {MaxLoras}");
        if (MaxNumBatchedTokens < 1) throw new ArgumentException($"--max-num-batched-tokens must be ≥ 1, got {MaxNumBatchedTokens}");
    }
}
