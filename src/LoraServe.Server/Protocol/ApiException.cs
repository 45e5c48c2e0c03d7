namespace LoraServe.Server.Protocol;

/// <summary>
/// A request the server refuses, with the HTTP status and the OpenAI error fields to answer with.
/// Thrown at the boundary (parsing, auth, model lookup, admission) and turned into
/// <see cref="ErrorResponse"/> by the endpoint; never thrown from inside a token loop.
/// The <c>type</c> strings follow vLLM, which names them after the OpenAI SDK's exception classes.
/// </summary>
public sealed class ApiException(int status, string type, string message, string? param = null) : Exception(message)
{
    public int Status { get; } = status;
    public string Type { get; } = type;
    public string? Param { get; } = param;

    public ErrorResponse ToResponse() => ErrorResponse.Create(Status, Type, Message, Param);

    public static ApiException BadRequest(string message, string? param = null) => new(400, "BadRequestError", message, param);

    /// <summary>vLLM's type for a malformed admin request (load/unload without a name).</summary>
    public static ApiException InvalidUserInput(string message, string? param = null) => new(400, "InvalidUserInput", message, param);

    public static ApiException Unauthorized() => new(401, "AuthenticationError", "Incorrect API key provided.");

    public static ApiException Forbidden(string message) => new(403, "PermissionDeniedError", message);

    /// <summary>Unknown and forbidden models answer alike, so a key cannot probe which adapters exist.</summary>
    public static ApiException ModelNotFound(string model) => new(404, "NotFoundError", $"The model `{model}` does not exist.", "model");

    public static ApiException NotFound(string message, string? param = null) => new(404, "NotFoundError", message, param);

    public static ApiException TooLarge(long limit) => new(413, "RequestTooLargeError", $"The request body exceeds the limit of {limit} bytes (--max-body-bytes).");

    public static ApiException QueueFull(int bound) => new(429, "RateLimitError", $"The server's waiting queue is full ({bound} requests, --max-waiting); retry later.");

    public static ApiException ShuttingDown() => new(503, "ServiceUnavailableError", "The server is shutting down and accepts no new requests.");
}
