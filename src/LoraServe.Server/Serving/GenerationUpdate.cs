using LoraServe.Engine.Requests;

namespace LoraServe.Server.Serving;

/// <summary>
/// One engine event as the client sees it: the text it released (possibly empty — held back for a
/// stop string or an incomplete UTF-8 sequence), the token and its log-probabilities, and on the
/// last event the finish reason.
/// </summary>
internal readonly record struct GenerationUpdate(string Text, int TokenId, float LogProb, TokenLogprob[]? TopLogprobs, FinishReason Finish, string? Error)
{
    public bool HasToken => TokenId >= 0;
}
