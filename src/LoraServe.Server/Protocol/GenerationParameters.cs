using System.Text.Json;

namespace LoraServe.Server.Protocol;

/// <summary>
/// The generation fields /v1/completions and /v1/chat/completions share, validated: sampling,
/// stopping, streaming, the caller's <c>user</c> tag, and how many top log-probabilities to return
/// (null: none). Fields OpenAI defines but this server does not implement (n &gt; 1, penalties,
/// logit_bias …) are accepted only at their neutral value and otherwise answered with a 400 naming them.
/// </summary>
internal sealed record GenerationParameters
{
    /// <summary>Most stop strings per request (OpenAI allows 4; vLLM any number — a bound keeps the per-token check cheap).</summary>
    public const int MaxStopStrings = 16;

    public string? Model { get; init; }

    /// <summary>Explicit max_tokens (or max_completion_tokens); null = the endpoint's default.</summary>
    public int? MaxTokens { get; init; }

    /// <summary>Which field set <see cref="MaxTokens"/>, for error messages.</summary>
    public string MaxTokensField { get; init; } = "max_tokens";

    public float Temperature { get; init; } = 1f;
    public float TopP { get; init; } = 1f;
    public int TopK { get; init; }
    public ulong? Seed { get; init; }
    public IReadOnlyList<string> Stop { get; init; } = [];
    public IReadOnlyList<int> StopTokenIds { get; init; } = [];
    public bool IgnoreEos { get; init; }
    public bool Stream { get; init; }
    public bool IncludeUsage { get; init; }
    public string? User { get; init; }
    public int? TopLogprobs { get; init; }

    /// <summary>Reads the shared fields; <paramref name="maxTokenFields"/> lists the accepted names for the output bound, preferred first.</summary>
    public static GenerationParameters Read(RequestFields f, params string[] maxTokenFields)
    {
        string? model = f.String("model");
        int? maxTokens = null;
        string maxField = maxTokenFields[0];
        foreach (var name in maxTokenFields)
        {
            if (f.Integer(name, 1, int.MaxValue) is not { } v) continue;
            if (maxTokens is null)
            {
                maxTokens = (int)v;
                maxField = name;
            }
        }

        float temperature = (float)(f.Number("temperature", 0, 2) ?? 1.0);
        float topP = (float)(f.Number("top_p", double.Epsilon, 1) ?? 1.0);
        // vLLM's -1 and OpenAI-compatible 0 both mean "no top-k filter".
        int topK = (int)(f.Integer("top_k", -1, int.MaxValue) ?? 0);
        if (topK < 0) topK = 0;
        ulong? seed = f.Integer("seed", long.MinValue, long.MaxValue) is { } s ? unchecked((ulong)s) : null;
        var stop = ReadStop(f);
        var stopTokenIds = ReadTokenIdList(f, "stop_token_ids");
        bool ignoreEos = f.Bool("ignore_eos") ?? false;
        bool stream = f.Bool("stream") ?? false;
        bool includeUsage = false;
        if (f.Raw("stream_options") is { } so)
        {
            if (!stream) throw ApiException.BadRequest("'stream_options' is only allowed when 'stream' is true.", "stream_options");
            var options = new RequestFields(so, "stream_options");
            includeUsage = options.Bool("include_usage") ?? false;
            options.NeutralOnly("continuous_usage_stats", v => v.ValueKind == JsonValueKind.False, "usage is reported once, at the end of the stream");
            options.RejectUnknown();
        }
        string? user = f.String("user");

        f.NeutralOnly("n", v => v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int n) && n == 1, "only n = 1 is supported");
        f.NeutralOnly("presence_penalty", IsZero, "penalties are not implemented");
        f.NeutralOnly("frequency_penalty", IsZero, "penalties are not implemented");
        f.NeutralOnly("repetition_penalty", v => v.ValueKind == JsonValueKind.Number && v.GetDouble() == 1.0, "penalties are not implemented");
        f.NeutralOnly("logit_bias", v => v.ValueKind == JsonValueKind.Object && !v.EnumerateObject().Any(), "logit_bias is not implemented");
        f.NeutralOnly("min_tokens", IsZero, "min_tokens is not implemented");
        f.NeutralOnly("skip_special_tokens", v => v.ValueKind == JsonValueKind.True, "special tokens are always skipped in the output text");

        return new GenerationParameters
        {
            Model = model, MaxTokens = maxTokens, MaxTokensField = maxField, Temperature = temperature, TopP = topP, TopK = topK, Seed = seed,
            Stop = stop, StopTokenIds = stopTokenIds, IgnoreEos = ignoreEos, Stream = stream, IncludeUsage = includeUsage, User = user,
        };
    }

    private static bool IsZero(JsonElement v) => v.ValueKind == JsonValueKind.Number && v.GetDouble() == 0;

    /// <summary><c>stop</c>: a string or a list of strings (OpenAI); empty strings would stop at once, so they are refused.</summary>
    private static IReadOnlyList<string> ReadStop(RequestFields f)
    {
        if (f.Raw("stop") is not { } v) return [];
        var list = new List<string>();
        if (v.ValueKind == JsonValueKind.String) list.Add(v.GetString()!);
        else if (v.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in v.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.String) throw f.WrongType("stop", "a string or a list of strings");
                list.Add(item.GetString()!);
            }
        }
        else throw f.WrongType("stop", "a string or a list of strings");
        if (list.Count > MaxStopStrings) throw ApiException.BadRequest($"'stop' may hold at most {MaxStopStrings} strings, got {list.Count}.", "stop");
        if (list.Exists(s => s.Length == 0)) throw ApiException.BadRequest("'stop' strings must not be empty.", "stop");
        return list;
    }

    internal static IReadOnlyList<int> ReadTokenIdList(RequestFields f, string name)
    {
        if (f.Raw(name) is not { } v) return [];
        if (v.ValueKind != JsonValueKind.Array) throw f.WrongType(name, "a list of token ids");
        var ids = new List<int>();
        foreach (var item in v.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out int id) || id < 0) throw f.WrongType(name, "a list of non-negative integer token ids");
            ids.Add(id);
        }
        return ids;
    }
}
