using LoraServe.Engine.Requests;

namespace LoraServe.Engine.Execution;

/// <summary>The token sampled for one scheduled chunk, its log-probability and (if asked) the top alternatives.</summary>
public readonly record struct SampledToken(int TokenId, float LogProb, TokenLogprob[]? TopLogprobs);
