using System.Text;
using System.Text.Json;

namespace LoraServe.Models.Tokenization;

/// <summary>
/// tokenizer.json "normalizer": rewrites each piece of input text that is not an added token
/// before pre-tokenization (tokenizers runs it per piece, after added tokens are split off —
/// which is why Llama-2's Prepend("▁") also fires after "&lt;s&gt;" in "&lt;s&gt;hi").
/// Offsets are not tracked: LoraServe never returns them.
/// </summary>
public abstract class Normalizer
{
    public abstract string Normalize(string text);

    internal static Normalizer? FromJson(JsonElement e, TokenizerJson json, string component)
    {
        if (e.ValueKind == JsonValueKind.Null) return null;
        string type = json.Type(e, component);
        switch (type)
        {
            case "NFC": return new UnicodeNormalizer(NormalizationForm.FormC);
            case "NFD": return new UnicodeNormalizer(NormalizationForm.FormD);
            case "NFKC": return new UnicodeNormalizer(NormalizationForm.FormKC);
            case "NFKD": return new UnicodeNormalizer(NormalizationForm.FormKD);
            case "Lowercase": return new LowercaseNormalizer();
            case "Prepend": return new PrependNormalizer(json.String(e, "prepend", component));
            case "Replace":
                return new ReplaceNormalizer(json.Pattern(e, "pattern", component), json.String(e, "content", component));
            case "Sequence":
            {
                var list = new List<Normalizer>();
                int i = 0;
                foreach (var child in json.Array(e, "normalizers", component).EnumerateArray())
                {
                    var n = FromJson(child, json, $"{component}.normalizers[{i++}]");
                    if (n is not null) list.Add(n);
                }
                return new SequenceNormalizer(list);
            }
            default:
                return json.Unsupported<Normalizer>(component, "normalizer type", type);
        }
    }
}

/// <summary>NFC/NFD/NFKC/NFKD (Qwen2 uses NFC so "e\u0301" and "é" tokenize alike).</summary>
public sealed class UnicodeNormalizer(NormalizationForm form) : Normalizer
{
    public override string Normalize(string text) => UnicodeNormalization.Normalize(text, form);
}

/// <summary>Unicode lowercase (tokenizers uses Rust's <c>str::to_lowercase</c>, which is culture-free).</summary>
public sealed class LowercaseNormalizer : Normalizer
{
    public override string Normalize(string text) => text.ToLowerInvariant();
}

/// <summary>Prepends a string to every non-empty piece (Llama-2's "▁" before the first word).</summary>
public sealed class PrependNormalizer(string prepend) : Normalizer
{
    public override string Normalize(string text) => text.Length == 0 ? text : prepend + text;
}

/// <summary>Replaces every match of a literal or regex (Llama-2: " " → "▁").</summary>
public sealed class ReplaceNormalizer : Normalizer
{
    private readonly OnigRegex _pattern;
    private readonly string _content;

    internal ReplaceNormalizer(OnigRegex pattern, string content)
    {
        _pattern = pattern;
        _content = content;
    }

    public override string Normalize(string text) => ReplaceAll(_pattern, text, _content);

    internal static string ReplaceAll(OnigRegex pattern, string text, string content)
    {
        // Non-overlapping, left to right: the same as tokenizers' Replace for a literal.
        if (pattern.Literal is { Length: > 0 } literal) return text.Replace(literal, content, StringComparison.Ordinal);
        var matches = new List<(int Start, int Length)>();
        pattern.FindMatches(text, matches);
        if (matches.Count == 0) return text;
        var sb = new StringBuilder(text.Length + matches.Count * content.Length);
        int prev = 0;
        foreach (var (start, length) in matches)
        {
            sb.Append(text, prev, start - prev).Append(content);
            prev = start + length;
        }
        sb.Append(text, prev, text.Length - prev);
        return sb.ToString();
    }
}

/// <summary>Applies normalizers in order.</summary>
public sealed class SequenceNormalizer(IReadOnlyList<Normalizer> normalizers) : Normalizer
{
    public override string Normalize(string text)
    {
        foreach (var n in normalizers) text = n.Normalize(text);
        return text;
    }
}
