using LoraServe.Core.Kernels;

namespace LoraServe.Models.Generation;

/// <summary>Per-request generation settings for <see cref="SingleSequenceGenerator"/>.</summary>
public sealed record GenerationOptions
{
    public int MaxTokens { get; init; } = 64;
    public SamplingParams Sampling { get; init; } = SamplingParams.Greedy;

    /// <summary>Tokens that end generation (included in the output, as vLLM does for EOS).</summary>
    public IReadOnlyList<int> StopTokenIds { get; init; } = [];

    /// <summary>Keep generating through EOS (for benchmarks).</summary>
    public bool IgnoreEos { get; init; }
}
