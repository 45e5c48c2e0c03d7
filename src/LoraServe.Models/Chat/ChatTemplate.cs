using System.Collections;
using System.Text.Json;
using LoraServe.Models.Chat.Jinja;

namespace LoraServe.Models.Chat;

/// <summary>
/// A model's chat template (the Jinja <c>chat_template</c> of its tokenizer_config.json), rendered
/// the way transformers' <c>apply_chat_template(..., tokenize=False)</c> does: jinja2 with
/// trim_blocks and lstrip_blocks, no trailing newline kept, <c>raise_exception</c> and
/// <c>strftime_now</c> globals, a non-escaping <c>tojson</c>, and <c>messages</c>,
/// <c>add_generation_prompt</c>, <c>tools=None</c>, <c>documents=None</c> and the special tokens as variables.
/// See docs/chat-templates.md for the supported Jinja subset.
/// </summary>
public sealed class ChatTemplate
{
    /// <summary>The standard ChatML template, for models that ship no template of their own.</summary>
    public const string ChatMLTemplateText =
        @"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    private readonly JinjaTemplate _template;

    private ChatTemplate(string text, string sourceName, IReadOnlyDictionary<string, string> specialTokens)
    {
        Text = text;
        SourceName = sourceName;
        SpecialTokens = specialTokens;
        _template = new JinjaTemplate(sourceName, text);
        AcceptsContentParts = _template.IteratesOverContent;
    }

    /// <summary>The ChatML fallback (no special tokens).</summary>
    public static ChatTemplate ChatML { get; } = new(ChatMLTemplateText, "ChatML fallback", new Dictionary<string, string>());

    public string Text { get; }

    /// <summary>Where the template came from, used in every error message.</summary>
    public string SourceName { get; }

    /// <summary>bos_token, eos_token, unk_token, pad_token as strings, for those the config sets.</summary>
    public IReadOnlyDictionary<string, string> SpecialTokens { get; }

    /// <summary>
    /// True when the template loops over <c>message.content</c>, so content-part lists are passed as
    /// lists; otherwise text parts are joined with "\n" first, as vLLM does for string-content templates.
    /// </summary>
    public bool AcceptsContentParts { get; }

    /// <summary>Clock for <c>strftime_now</c> (transformers uses local time); tests pin it.</summary>
    internal Func<DateTime> Clock { get; set; } = () => DateTime.Now;

    public static ChatTemplate Parse(string text, string? bosToken = null, string? eosToken = null, string sourceName = "chat_template")
    {
        ArgumentNullException.ThrowIfNull(text);
        var tokens = new Dictionary<string, string>(StringComparer.Ordinal);
        if (bosToken is not null) tokens["bos_token"] = bosToken;
        if (eosToken is not null) tokens["eos_token"] = eosToken;
        return new ChatTemplate(text, sourceName, tokens);
    }

    /// <summary>
    /// Loads the template of an HF model directory: <c>chat_template.jinja</c> when present (newer
    /// transformers saves it there and it wins), else <c>tokenizer_config.json</c>'s
    /// <c>chat_template</c>. Returns null when the model has no template, so the caller can fall back
    /// to <see cref="ChatML"/>; a template that exists but cannot be parsed throws.
    /// </summary>
    public static ChatTemplate? FromTokenizerConfig(string modelDir)
    {
        ArgumentNullException.ThrowIfNull(modelDir);
        string configPath = Path.Combine(modelDir, "tokenizer_config.json");
        string jinjaPath = Path.Combine(modelDir, "chat_template.jinja");
        string? configJson = File.Exists(configPath) ? File.ReadAllText(configPath) : null;
        if (File.Exists(jinjaPath))
        {
            var tokens = configJson is null ? new Dictionary<string, string>() : ReadSpecialTokens(configJson, configPath);
            return new ChatTemplate(File.ReadAllText(jinjaPath), jinjaPath, tokens);
        }
        return configJson is null ? null : FromTokenizerConfigJson(configJson, configPath);
    }

    /// <summary>As <see cref="FromTokenizerConfig"/> for the text of a tokenizer_config.json.</summary>
    public static ChatTemplate? FromTokenizerConfigJson(string json, string sourceName = "tokenizer_config.json")
    {
        ArgumentNullException.ThrowIfNull(json);
        using var doc = ParseJson(json, sourceName);
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new ChatTemplateException($"{sourceName}: expected a JSON object");
        if (!doc.RootElement.TryGetProperty("chat_template", out var ct) || ct.ValueKind == JsonValueKind.Null) return null;
        string text = ct.ValueKind switch
        {
            JsonValueKind.String => ct.GetString()!,
            // The named-template form: [{"name": "default", "template": ...}, {"name": "tool_use", ...}].
            JsonValueKind.Array => PickDefault(ct, sourceName),
            _ => throw new ChatTemplateException($"{sourceName}: chat_template must be a string or a list of {{name, template}}, found {ct.ValueKind}"),
        };
        return new ChatTemplate(text, $"{sourceName} chat_template", ReadSpecialTokens(doc.RootElement, sourceName));
    }

    private static JsonDocument ParseJson(string json, string sourceName)
    {
        try
        {
            return JsonDocument.Parse(json);
        }
        catch (JsonException ex)
        {
            throw new ChatTemplateException($"{sourceName}: invalid JSON ({ex.Message})", ex);
        }
    }

    private static string PickDefault(JsonElement list, string sourceName)
    {
        var names = new List<string>();
        foreach (var entry in list.EnumerateArray())
        {
            if (entry.ValueKind != JsonValueKind.Object || !entry.TryGetProperty("name", out var name) || !entry.TryGetProperty("template", out var template)
                || name.ValueKind != JsonValueKind.String || template.ValueKind != JsonValueKind.String)
                throw new ChatTemplateException($"{sourceName}: every chat_template list entry needs string 'name' and 'template'");
            if (name.GetString() == "default") return template.GetString()!;
            names.Add(name.GetString()!);
        }
        throw new ChatTemplateException($"{sourceName}: chat_template list has no 'default' entry (found: {string.Join(", ", names)})");
    }

    private static Dictionary<string, string> ReadSpecialTokens(string json, string sourceName)
    {
        using var doc = ParseJson(json, sourceName);
        return ReadSpecialTokens(doc.RootElement, sourceName);
    }

    /// <summary>Special tokens are strings or AddedToken objects <c>{"content": ...}</c>; null ones are left out, as in transformers' special_tokens_map.</summary>
    private static Dictionary<string, string> ReadSpecialTokens(JsonElement root, string sourceName)
    {
        var tokens = new Dictionary<string, string>(StringComparer.Ordinal);
        if (root.ValueKind != JsonValueKind.Object) return tokens;
        foreach (string key in (string[])["bos_token", "eos_token", "unk_token", "pad_token"])
        {
            if (!root.TryGetProperty(key, out var v)) continue;
            if (v.ValueKind == JsonValueKind.String) tokens[key] = v.GetString()!;
            else if (v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String) tokens[key] = content.GetString()!;
            else if (v.ValueKind != JsonValueKind.Null) throw new ChatTemplateException($"{sourceName}: {key} must be a string or an object with 'content'");
        }
        return tokens;
    }

    /// <summary>
    /// Renders the prompt. <paramref name="extra"/> adds or overrides template variables (e.g.
    /// <c>tools</c>, <c>date_string</c>, <c>enable_thinking</c>); values may be strings, numbers,
    /// bools, null, lists, dictionaries or <see cref="JsonElement"/>s.
    /// </summary>
    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt, IReadOnlyDictionary<string, object?>? extra = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var vars = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["messages"] = messages.Select(m => (object?)MessageToValue(m)).ToList(),
            ["add_generation_prompt"] = addGenerationPrompt,
            ["tools"] = null,
            ["documents"] = null,
        };
        foreach (var (k, v) in SpecialTokens) vars[k] = v;
        if (extra is not null)
        {
            foreach (var (k, v) in extra) vars[k] = ToTemplateValue(v, k);
        }
        return _template.Render(vars, Clock);
    }

    private JinjaDict MessageToValue(ChatMessage m)
    {
        var dict = new JinjaDict { ["role"] = m.Role };
        if (m.Content is not null)
        {
            dict["content"] = m.Content;
        }
        else
        {
            foreach (var part in m.Parts!)
            {
                if (part.Type != "text") throw new ChatTemplateException($"Content part type '{part.Type}' is not supported; only 'text' parts can be rendered");
            }
            dict["content"] = AcceptsContentParts
                ? m.Parts!.Select(p => (object?)new JinjaDict { ["type"] = p.Type, ["text"] = p.Text }).ToList()
                : string.Join("\n", m.Parts!.Select(p => p.Text));
        }
        if (m.Fields is not null)
        {
            foreach (var (key, value) in m.Fields)
            {
                if (key is "role" or "content") throw new ArgumentException($"ChatMessage.Fields must not contain '{key}'; use the constructor", nameof(m));
                // Only keys that are present appear in the dict: templates test "'tool_calls' in message".
                dict[key] = ToTemplateValue(value, key);
            }
        }
        return dict;
    }

    private static object? ToTemplateValue(object? v, string name) => v switch
    {
        null => null,
        string or bool or long or double => v,
        int i => (long)i,
        short s => (long)s,
        uint u => (long)u,
        float f => (double)f,
        decimal d => (double)d,
        JsonElement e => FromJson(e),
        ChatMessage m => new JinjaDict { ["role"] = m.Role, ["content"] = m.Content ?? string.Join("\n", m.Parts!.Select(p => p.Text)) },
        IDictionary dict => ToDict(dict, name),
        IEnumerable list => list.Cast<object?>().Select(x => ToTemplateValue(x, name)).ToList(),
        _ when TryReadOnlyDictionary(v, name, out var d) => d,
        _ => throw new ArgumentException($"Template variable '{name}' has unsupported type {v.GetType().Name}", nameof(v)),
    };

    private static JinjaDict ToDict(IDictionary dict, string name)
    {
        var result = new JinjaDict();
        foreach (DictionaryEntry entry in dict) result[ToTemplateValue(entry.Key, name) ?? throw new ArgumentException($"Template variable '{name}' has a null key")] = ToTemplateValue(entry.Value, name);
        return result;
    }

    private static bool TryReadOnlyDictionary(object v, string name, out JinjaDict? result)
    {
        result = null;
        if (v is not IEnumerable<KeyValuePair<string, object?>> pairs) return false;
        result = new JinjaDict();
        foreach (var (k, value) in pairs) result[k] = ToTemplateValue(value, name);
        return true;
    }

    private static object? FromJson(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => e.GetString(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Null or JsonValueKind.Undefined => null,
        // Boxed so an integer stays an int; the ternary alone would widen it to double.
        JsonValueKind.Number => e.TryGetInt64(out long l) ? (object)l : e.GetDouble(),
        JsonValueKind.Array => e.EnumerateArray().Select(FromJson).ToList(),
        JsonValueKind.Object => e.EnumerateObject().Aggregate(new JinjaDict(), (d, p) =>
        {
            d[p.Name] = FromJson(p.Value);
            return d;
        }),
        _ => throw new ArgumentException($"Unsupported JSON value kind {e.ValueKind}"),
    };
}
