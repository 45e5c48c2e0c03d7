namespace LoraServe.Engine.Requests;

/// <summary>Why a request ended (vLLM's finish_reason, plus the engine-side endings).</summary>
public enum FinishReason
{
    /// <summary>Still generating.</summary>
    None,

    /// <summary>An end-of-sequence or stop token was produced (vLLM "stop"); the token is included.</summary>
    EndOfSequence,

    /// <summary>The output text came to contain one of the request's stop strings (vLLM "stop").</summary>
    StopString,

    /// <summary>max_tokens or the model's context was reached (vLLM "length").</summary>
    Length,

    /// <summary>The caller cancelled, or the engine stopped without draining (vLLM "abort").</summary>
    Cancelled,

    /// <summary>The per-minute request limit refused it on arrival (the RPM baseline's abort).</summary>
    Rejected,

    /// <summary>The engine failed while running it; <see cref="TokenEvent.Error"/> says why.</summary>
    Error,
}
