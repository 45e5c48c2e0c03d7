using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace LoraServe.Server.Protocol;

/// <summary>
/// Source-generated System.Text.Json metadata for every response body, snake_case as the OpenAI
/// API spells it; no reflection on the streaming path.
/// </summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(ErrorResponse))]
[JsonSerializable(typeof(CompletionResponse))]
[JsonSerializable(typeof(ChatCompletionResponse))]
[JsonSerializable(typeof(ChatCompletionChunk))]
[JsonSerializable(typeof(ModelList))]
public sealed partial class ProtocolJson : JsonSerializerContext
{
    /// <summary>
    /// The server's API bodies are JSON, never embedded in HTML, so only what JSON requires is
    /// escaped: apostrophes in messages and non-ASCII text stay readable and UTF-8 stays compact.
    /// </summary>
    public static JavaScriptEncoder Encoder => JavaScriptEncoder.UnsafeRelaxedJsonEscaping;

    public static ProtocolJson Api { get; } = new(new JsonSerializerOptions { Encoder = Encoder, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower });
}
