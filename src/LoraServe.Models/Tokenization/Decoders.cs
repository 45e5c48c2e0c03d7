using System.Text;
using System.Text.Json;

namespace LoraServe.Models.Tokenization;

/// <summary>
/// tokenizer.json "decoder": turns the token strings of a sequence back into text. Like
/// tokenizers' <c>Decoder::decode_chain</c>, each step maps a list of strings to a list of
/// strings, and the final list is concatenated.
/// </summary>
public abstract class Decoder
{
    public abstract List<string> DecodeChain(List<string> tokens);

    public string Decode(List<string> tokens) => string.Concat(DecodeChain(tokens));

    internal static Decoder? FromJson(JsonElement e, TokenizerJson json, string component)
    {
        if (e.ValueKind == JsonValueKind.Null) return null;
        string type = json.Type(e, component);
        switch (type)
        {
            case "ByteLevel": return new ByteLevelDecoder();
            case "Metaspace": return new MetaspaceDecoder(MetaspaceOptions.FromJson(e, json, component));
            case "Replace": return new ReplaceDecoder(json.Pattern(e, "pattern", component), json.String(e, "content", component));
            case "ByteFallback": return new ByteFallbackDecoder();
            case "Fuse": return new FuseDecoder();
            case "Strip":
            {
                string content = json.String(e, "content", component);
                if (content.Length != 1) json.Fail(component, $"Strip content must be one character, found \"{content}\"");
                return new StripDecoder(content[0], json.Int(e, "start", 0, component), json.Int(e, "stop", 0, component));
            }
            case "Sequence":
            {
                var list = new List<Decoder>();
                int i = 0;
                foreach (var child in json.Array(e, "decoders", component).EnumerateArray())
                {
                    var d = FromJson(child, json, $"{component}.decoders[{i++}]");
                    if (d is not null) list.Add(d);
                }
                return new SequenceDecoder(list);
            }
            default:
                return json.Unsupported<Decoder>(component, "decoder type", type);
        }
    }
}

/// <summary>
/// Maps alphabet characters back to bytes and decodes UTF-8 with replacement (Rust's
/// <c>from_utf8_lossy</c>; .NET's decoder substitutes the same maximal invalid subparts). A token
/// with a character outside the alphabet (e.g. an added token "é") contributes its own UTF-8.
/// </summary>
public sealed class ByteLevelDecoder : Decoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        var bytes = new List<byte>();
        foreach (string token in tokens)
        {
            int mark = bytes.Count;
            bool mapped = true;
            foreach (char c in token)
            {
                if (!ByteLevelAlphabet.TryCharToByte(c, out byte b)) { mapped = false; break; }
                bytes.Add(b);
            }
            if (!mapped)
            {
                bytes.RemoveRange(mark, bytes.Count - mark);
                bytes.AddRange(Encoding.UTF8.GetBytes(token));
            }
        }
        return [Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes))];
    }
}

/// <summary>
/// '▁' → ' ', dropping the '▁'s of the first token when a prefix was prepended (tokenizers
/// metaspace.rs: <c>if i == 0 &amp;&amp; prepend_scheme != Never</c> drops the replacement).
/// </summary>
public sealed class MetaspaceDecoder(MetaspaceOptions options) : Decoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        var result = new List<string>(tokens.Count);
        for (int i = 0; i < tokens.Count; i++)
        {
            var sb = new StringBuilder(tokens[i].Length);
            foreach (char c in tokens[i])
            {
                if (c != options.Replacement) sb.Append(c);
                else if (!(i == 0 && options.PrependScheme != MetaspaceOptions.Prepend.Never)) sb.Append(' ');
            }
            result.Add(sb.ToString());
        }
        return result;
    }
}

/// <summary>Replaces a literal or regex in each token (Llama-2: "▁" → " ").</summary>
public sealed class ReplaceDecoder : Decoder
{
    private readonly OnigRegex _pattern;
    private readonly string _content;

    internal ReplaceDecoder(OnigRegex pattern, string content)
    {
        _pattern = pattern;
        _content = content;
    }

    public override List<string> DecodeChain(List<string> tokens)
    {
        var result = new List<string>(tokens.Count);
        foreach (string t in tokens) result.Add(ReplaceNormalizer.ReplaceAll(_pattern, t, _content));
        return result;
    }
}

/// <summary>
/// Turns runs of "&lt;0xNN&gt;" tokens into the text their bytes spell. A run that is not valid
/// UTF-8 becomes one U+FFFD per byte (tokenizers byte_fallback.rs), not lossy decoding.
/// </summary>
public sealed class ByteFallbackDecoder : Decoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        var result = new List<string>(tokens.Count);
        var pending = new List<byte>();
        foreach (string t in tokens)
        {
            if (TryParseByte(t, out byte b))
            {
                pending.Add(b);
                continue;
            }
            Flush(pending, result);
            result.Add(t);
        }
        Flush(pending, result);
        return result;
    }

    internal static bool TryParseByte(string token, out byte b)
    {
        b = 0;
        return token.Length == 6 && token.StartsWith("<0x", StringComparison.Ordinal) && token[5] == '>'
            && byte.TryParse(token.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out b);
    }

    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static void Flush(List<byte> pending, List<string> result)
    {
        if (pending.Count == 0) return;
        try
        {
            result.Add(s_strictUtf8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(pending)));
        }
        catch (DecoderFallbackException)
        {
            for (int i = 0; i < pending.Count; i++) result.Add("\uFFFD");
        }
        pending.Clear();
    }
}

/// <summary>Concatenates all tokens into one.</summary>
public sealed class FuseDecoder : Decoder
{
    public override List<string> DecodeChain(List<string> tokens) => [string.Concat(tokens)];
}

/// <summary>
/// Removes up to <c>start</c> leading and <c>stop</c> trailing copies of a character from
/// every token (after Fuse there is one token, so Llama-2's Strip(" ", 1, 0) removes the space
/// the normalizer prepended to the whole text).
/// </summary>
public sealed class StripDecoder(char content, int start, int stop) : Decoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        var result = new List<string>(tokens.Count);
        foreach (string t in tokens)
        {
            int from = 0;
            while (from < start && from < t.Length && t[from] == content) from++;
            int to = t.Length;
            int removed = 0;
            while (removed < stop && to > from && t[to - 1] == content) { to--; removed++; }
            result.Add(t[from..to]);
        }
        return result;
    }
}

/// <summary>Runs decoders in order, each on the output list of the previous.</summary>
public sealed class SequenceDecoder(IReadOnlyList<Decoder> decoders) : Decoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        foreach (var d in decoders) tokens = d.DecodeChain(tokens);
        return tokens;
    }
}
