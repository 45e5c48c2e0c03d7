namespace LoraServe.Engine.Requests;

/// <summary>
/// One streamed step of a request: a generated token (Index ≥ 0) and/or the end of the request
/// (<see cref="Finish"/> ≠ None). A request's stream always ends with exactly one event whose
/// Finish is set; for cancellation, rejection and errors that event carries no token (TokenId −1).
/// A struct, so streaming a token allocates nothing beyond the channel's own segments;
/// <see cref="TopLogprobs"/> is allocated only when the request asked for alternatives.
/// </summary>
public readonly record struct TokenEvent(int TokenId, int Index, float LogProb, TokenLogprob[]? TopLogprobs, FinishReason Finish, string? Error = null)
{
    public bool HasToken => TokenId >= 0;

    public static TokenEvent Ended(FinishReason reason, int index, string? error = null) => new(-1, index, float.NaN, null, reason, error);
}
