using System.Text.Json;

namespace LoraServe.Server.Protocol;

/// <summary>
/// A validated POST /v1/completions body: one prompt, as text or as token ids (OpenAI accepts
/// lists of prompts too; this server answers one prompt per request and says so), the shared
/// generation fields, and <c>logprobs</c> as an integer count of alternatives (the legacy shape).
/// </summary>
internal sealed record CompletionRequest
{
    public string? PromptText { get; init; }
    public IReadOnlyList<int>? PromptTokenIds { get; init; }
    public required GenerationParameters Parameters { get; init; }

    public static CompletionRequest Parse(JsonElement body)
    {
        var f = new RequestFields(body, "");
        var (text, ids) = ReadPrompt(f);
        var parameters = GenerationParameters.Read(f, "max_tokens");
        int? logprobs = f.Integer("logprobs", 0, 20) is { } n ? (int)n : null;
        f.NeutralOnly("echo", v => v.ValueKind == JsonValueKind.False, "echo is not implemented");
        f.NeutralOnly("best_of", v => v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int b) && b == 1, "only best_of = 1 is supported");
        f.NeutralOnly("suffix", v => v.ValueKind == JsonValueKind.String && v.GetString()!.Length == 0, "suffix (insertion) is not implemented");
        f.RejectUnknown();
        return new CompletionRequest { PromptText = text, PromptTokenIds = ids, Parameters = parameters with { TopLogprobs = logprobs } };
    }

    /// <summary><c>prompt</c>: "text", ["text"], [ids…] or [[ids…]] — exactly one prompt.</summary>
    private static (string? Text, IReadOnlyList<int>? Ids) ReadPrompt(RequestFields f)
    {
        const string expected = "a string, a list of token ids, or a list holding one of those";
        if (f.Raw("prompt") is not { } v) throw ApiException.BadRequest("'prompt' is required.", "prompt");
        if (v.ValueKind == JsonValueKind.String) return (v.GetString(), null);
        if (v.ValueKind != JsonValueKind.Array) throw f.WrongType("prompt", expected);
        int count = v.GetArrayLength();
        if (count == 0) throw ApiException.BadRequest("'prompt' must not be empty.", "prompt");
        var first = v[0];
        if (first.ValueKind == JsonValueKind.Number) return (null, TokenIds(v, f, expected));
        if (count > 1) throw ApiException.BadRequest("Only one prompt per request is supported; send one request per prompt.", "prompt");
        return first.ValueKind switch
        {
            JsonValueKind.String => (first.GetString(), null),
            JsonValueKind.Array => (null, TokenIds(first, f, expected)),
            _ => throw f.WrongType("prompt", expected),
        };
    }

    private static List<int> TokenIds(JsonElement array, RequestFields f, string expected)
    {
        var ids = new List<int>(array.GetArrayLength());
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out int id)) throw f.WrongType("prompt", expected);
            ids.Add(id);
        }
        return ids;
    }
}
