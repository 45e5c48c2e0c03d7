using LoraServe.Core.Kernels;

namespace LoraServe.Engine.Requests;

/// <summary>Per-request generation settings, named after the OpenAI/vLLM request fields.</summary>
public sealed record RequestOptions
{
    /// <summary>max_tokens: output tokens at most (the context length may end it earlier).</summary>
    public int MaxTokens { get; init; } = 16;

    /// <summary>temperature / top_p / top_k / seed. Greedy by default.</summary>
    public SamplingParams Sampling { get; init; } = SamplingParams.Greedy;

    /// <summary>stop_token_ids, in addition to the engine's EOS ids (unless <see cref="IgnoreEos"/>).</summary>
    public IReadOnlyList<int> StopTokenIds { get; init; } = [];

    /// <summary>stop: strings that end generation once the detokenized output contains them (needs the engine's tokenizer).</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];

    /// <summary>ignore_eos: keep generating through EOS and stop tokens (benchmarks use it to fix output lengths).</summary>
    public bool IgnoreEos { get; init; }

    /// <summary>logprobs: report the top-N alternatives' log-probabilities per token (0 = only the chosen token's).</summary>
    public int TopLogprobs { get; init; }

    public void Validate()
    {
        Sampling.Validate();
        if (MaxTokens < 1) throw new ArgumentException($"max_tokens must be ≥ 1, got {MaxTokens}");
        if (TopLogprobs < 0 || TopLogprobs > 20) throw new ArgumentException($"logprobs must be in 0..20, got {TopLogprobs}");
        foreach (var s in StopStrings)
            if (string.IsNullOrEmpty(s)) throw new ArgumentException("stop strings must not be empty");
    }
}
