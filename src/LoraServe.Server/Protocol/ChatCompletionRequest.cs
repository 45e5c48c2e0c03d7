using System.Text.Json;
using LoraServe.Models.Chat;

namespace LoraServe.Server.Protocol;

/// <summary>
/// A validated POST /v1/chat/completions body: the messages (string content or text parts),
/// the shared generation fields (<c>max_completion_tokens</c> preferred over the deprecated
/// <c>max_tokens</c>), <c>logprobs</c> (bool) with <c>top_logprobs</c> (0–20) in the chat shape,
/// and vLLM's <c>add_generation_prompt</c>. Tools and non-text content are refused with a 400.
/// </summary>
internal sealed record ChatCompletionRequest
{
    private static readonly HashSet<string> Roles = new(StringComparer.Ordinal) { "system", "developer", "user", "assistant" };

    public required IReadOnlyList<ChatMessage> Messages { get; init; }
    public required GenerationParameters Parameters { get; init; }
    public bool AddGenerationPrompt { get; init; } = true;

    public static ChatCompletionRequest Parse(JsonElement body)
    {
        var f = new RequestFields(body, "");
        var messages = ReadMessages(f);
        var parameters = GenerationParameters.Read(f, "max_completion_tokens", "max_tokens");
        bool logprobs = f.Bool("logprobs") ?? false;
        int? top = f.Integer("top_logprobs", 0, 20) is { } t ? (int)t : null;
        if (top is not null && !logprobs) throw ApiException.BadRequest("'top_logprobs' requires 'logprobs' to be true.", "top_logprobs");
        bool addGenerationPrompt = f.Bool("add_generation_prompt") ?? true;
        f.NeutralOnly("tools", v => v.ValueKind == JsonValueKind.Array && v.GetArrayLength() == 0, "tool calling is not implemented");
        f.NeutralOnly("tool_choice", v => v.ValueKind == JsonValueKind.String && v.GetString() == "none", "tool calling is not implemented");
        f.NeutralOnly("parallel_tool_calls", _ => false, "tool calling is not implemented");
        f.NeutralOnly("response_format", v => v.ValueKind == JsonValueKind.Object && v.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.GetString() == "text",
            "only {\"type\": \"text\"} is supported");
        f.NeutralOnly("store", v => v.ValueKind == JsonValueKind.False, "stored completions are not implemented");
        f.NeutralOnly("echo", v => v.ValueKind == JsonValueKind.False, "echo is not implemented");
        f.RejectUnknown();
        return new ChatCompletionRequest
        {
            Messages = messages,
            Parameters = parameters with { TopLogprobs = logprobs ? top ?? 0 : null },
            AddGenerationPrompt = addGenerationPrompt,
        };
    }

    private static List<ChatMessage> ReadMessages(RequestFields f)
    {
        if (f.Raw("messages") is not { } v) throw ApiException.BadRequest("'messages' is required.", "messages");
        if (v.ValueKind != JsonValueKind.Array) throw f.WrongType("messages", "a list of messages");
        if (v.GetArrayLength() == 0) throw ApiException.BadRequest("'messages' must hold at least one message.", "messages");
        var messages = new List<ChatMessage>();
        int i = 0;
        foreach (var item in v.EnumerateArray())
        {
            string path = $"messages[{i++}]";
            var m = new RequestFields(item, path);
            string role = m.String("role") ?? throw ApiException.BadRequest($"'{path}.role' is required.", path + ".role");
            if (!Roles.Contains(role))
                throw ApiException.BadRequest($"'{path}.role' must be one of system, developer, user, assistant; got '{role}'.", path + ".role");
            var content = m.Raw("content") ?? throw ApiException.BadRequest($"'{path}.content' is required.", path + ".content");
            // The speaker's name has no place in the templates this server renders; accepted and left out, as vLLM's default templates do.
            m.String("name");
            m.RejectUnknown();
            messages.Add(content.ValueKind switch
            {
                JsonValueKind.String => new ChatMessage(role, content.GetString()!),
                JsonValueKind.Array => new ChatMessage(role, ReadParts(content, path + ".content")),
                _ => throw m.WrongType("content", "a string or a list of content parts"),
            });
        }
        return messages;
    }

    private static List<ChatContentPart> ReadParts(JsonElement array, string path)
    {
        var parts = new List<ChatContentPart>();
        int i = 0;
        foreach (var item in array.EnumerateArray())
        {
            string partPath = $"{path}[{i++}]";
            var p = new RequestFields(item, partPath);
            string type = p.String("type") ?? throw ApiException.BadRequest($"'{partPath}.type' is required.", partPath + ".type");
            if (type != "text") throw ApiException.BadRequest($"Content parts of type '{type}' are not supported; only 'text'.", partPath + ".type");
            string text = p.String("text") ?? throw ApiException.BadRequest($"'{partPath}.text' is required.", partPath + ".text");
            p.RejectUnknown();
            parts.Add(ChatContentPart.FromText(text));
        }
        return parts;
    }
}
