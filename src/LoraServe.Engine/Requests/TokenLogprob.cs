namespace LoraServe.Engine.Requests;

/// <summary>A candidate token and its natural-log probability under the raw logits (vLLM's logprobs entry).</summary>
public readonly record struct TokenLogprob(int TokenId, float LogProb);
