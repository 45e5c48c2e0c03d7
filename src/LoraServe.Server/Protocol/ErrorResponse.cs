namespace LoraServe.Server.Protocol;

/// <summary>OpenAI's error body <c>{"error": {"message", "type", "param", "code"}}</c>; code is the HTTP status, as vLLM sends it.</summary>
public sealed record ErrorResponse(ErrorInfo Error)
{
    public static ErrorResponse Create(int status, string type, string message, string? param) => new(new ErrorInfo(message, type, param, status));
}

public sealed record ErrorInfo(string Message, string Type, string? Param, int Code);
