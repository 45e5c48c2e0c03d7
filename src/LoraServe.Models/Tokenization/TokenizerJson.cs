using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using LoraServe.Models.Config;

namespace LoraServe.Models.Tokenization;

/// <summary>
/// Field access for tokenizer.json components. Every failure names the file, the component
/// (e.g. "pre_tokenizer.pretokenizers[0]") and the field, so a user can find the line at fault.
/// </summary>
internal readonly struct TokenizerJson
{
    public TokenizerJson(string file) => File = file;

    /// <summary>Path of the file being read, used in messages.</summary>
    public string File { get; }

    [DoesNotReturn]
    public void Fail(string component, string message) => throw new ModelFormatException(File, $"{component}: {message}");

    public string Type(JsonElement obj, string component)
    {
        if (obj.ValueKind != JsonValueKind.Object) Fail(component, $"expected an object, found {obj.ValueKind}");
        if (!obj.TryGetProperty("type", out var t) || t.ValueKind != JsonValueKind.String) Fail(component, "missing \"type\"");
        return t.GetString()!;
    }

    public string String(JsonElement obj, string field, string component)
    {
        if (!obj.TryGetProperty(field, out var v) || v.ValueKind != JsonValueKind.String) Fail(component, $"missing string field \"{field}\"");
        return v.GetString()!;
    }

    public string? OptionalString(JsonElement obj, string field)
        => obj.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    public bool Bool(JsonElement obj, string field, bool fallback)
        => obj.TryGetProperty(field, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : fallback;

    public int Int(JsonElement obj, string field, int fallback, string component)
    {
        if (!obj.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int n)) return n;
        Fail(component, $"\"{field}\" must be an integer");
        return 0;
    }

    public JsonElement Array(JsonElement obj, string field, string component)
    {
        if (!obj.TryGetProperty(field, out var v) || v.ValueKind != JsonValueKind.Array) Fail(component, $"missing array field \"{field}\"");
        return v;
    }

    /// <summary>
    /// A tokenizers <c>Pattern</c>: <c>{"String": "..."}</c> (a literal) or <c>{"Regex": "..."}</c>.
    /// </summary>
    public OnigRegex Pattern(JsonElement obj, string field, string component)
    {
        if (!obj.TryGetProperty(field, out var p) || p.ValueKind != JsonValueKind.Object) Fail(component, $"missing pattern field \"{field}\"");
        if (p.TryGetProperty("String", out var s) && s.ValueKind == JsonValueKind.String)
            return OnigRegex.ForLiteral(s.GetString()!);
        if (p.TryGetProperty("Regex", out var r) && r.ValueKind == JsonValueKind.String)
        {
            try
            {
                return new OnigRegex(r.GetString()!);
            }
            catch (ArgumentException e)
            {
                Fail(component, $"regex {r.GetString()} is not supported: {e.Message}");
            }
        }
        Fail(component, $"\"{field}\" must be {{\"String\": ...}} or {{\"Regex\": ...}}");
        return null;
    }

    public SplitBehavior Behavior(JsonElement obj, string component)
    {
        string b = String(obj, "behavior", component);
        return b switch
        {
            "Removed" => SplitBehavior.Removed,
            "Isolated" => SplitBehavior.Isolated,
            "MergedWithPrevious" => SplitBehavior.MergedWithPrevious,
            "MergedWithNext" => SplitBehavior.MergedWithNext,
            "Contiguous" => SplitBehavior.Contiguous,
            _ => Unsupported<SplitBehavior>(component, "split behavior", b),
        };
    }

    [DoesNotReturn]
    public T Unsupported<T>(string component, string what, string name)
    {
        Fail(component, $"unsupported {what} \"{name}\"");
        return default;
    }
}
