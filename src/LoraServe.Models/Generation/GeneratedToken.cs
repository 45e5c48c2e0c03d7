namespace LoraServe.Models.Generation;

/// <summary>Why a generation ended.</summary>
public enum FinishReason
{
    None,

    /// <summary>An end-of-sequence token was produced (vLLM's "stop").</summary>
    Stop,

    /// <summary>max_tokens or the context length was reached (vLLM's "length").</summary>
    Length,
}

/// <summary>One sampled token with its natural-log probability under the raw logits.</summary>
public readonly record struct GeneratedToken(int TokenId, float LogProb, FinishReason Finish);
