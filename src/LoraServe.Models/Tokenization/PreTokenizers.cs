using System.Text.Json;

namespace LoraServe.Models.Tokenization;

/// <summary>
/// tokenizer.json "pre_tokenizer": cuts a normalized piece into words; the model then
/// tokenizes each word on its own (so merges never cross a word boundary).
/// </summary>
public abstract class PreTokenizer
{
    /// <summary>Splits every piece of <paramref name="pieces"/> and writes the result to <paramref name="output"/>.</summary>
    public abstract void PreTokenize(List<PreToken> pieces, List<PreToken> output);

    internal static PreTokenizer? FromJson(JsonElement e, TokenizerJson json, string component)
    {
        if (e.ValueKind == JsonValueKind.Null) return null;
        string type = json.Type(e, component);
        switch (type)
        {
            case "ByteLevel":
                return new ByteLevelPreTokenizer(json.Bool(e, "add_prefix_space", true), json.Bool(e, "use_regex", true));
            case "Split":
                return new SplitPreTokenizer(json.Pattern(e, "pattern", component), json.Behavior(e, component), json.Bool(e, "invert", false));
            case "Digits":
                return new DigitsPreTokenizer(json.Bool(e, "individual_digits", false));
            case "Metaspace":
                return new MetaspacePreTokenizer(MetaspaceOptions.FromJson(e, json, component));
            case "Sequence":
            {
                var list = new List<PreTokenizer>();
                int i = 0;
                foreach (var child in json.Array(e, "pretokenizers", component).EnumerateArray())
                {
                    var p = FromJson(child, json, $"{component}.pretokenizers[{i++}]");
                    if (p is not null) list.Add(p);
                }
                return new SequencePreTokenizer(list);
            }
            default:
                return json.Unsupported<PreTokenizer>(component, "pre_tokenizer type", type);
        }
    }
}

/// <summary>
/// GPT-2's byte-level pre-tokenizer: optionally prepend a space, optionally split with the GPT-2
/// regex, then map every UTF-8 byte to its <see cref="ByteLevelAlphabet"/> character.
/// </summary>
public sealed class ByteLevelPreTokenizer : PreTokenizer
{
    /// <summary>openai/gpt-2 encoder.py's pattern, as tokenizers' byte_level.rs compiles it.</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    private static readonly OnigRegex s_gpt2 = new(Gpt2Pattern);
    private readonly bool _addPrefixSpace;
    private readonly bool _useRegex;

    public ByteLevelPreTokenizer(bool addPrefixSpace, bool useRegex)
    {
        _addPrefixSpace = addPrefixSpace;
        _useRegex = useRegex;
    }

    public override void PreTokenize(List<PreToken> pieces, List<PreToken> output)
    {
        var matches = new List<(int Start, int Length)>();
        var split = new List<PreToken>();
        foreach (var piece in pieces)
        {
            if (piece.Text.Length == 0) continue;
            // tokenizers checks each piece for a leading ' ' (not any whitespace).
            var p = _addPrefixSpace && !piece.Text.StartsWith(' ') ? piece with { Text = " " + piece.Text } : piece;
            split.Clear();
            if (_useRegex)
            {
                s_gpt2.FindMatches(p.Text, matches);
                PatternSplitter.Split(p, matches, SplitBehavior.Isolated, invert: false, split);
            }
            else if (p.Text.Length > 0)
            {
                split.Add(p);
            }
            foreach (var s in split) output.Add(s with { Text = ByteLevelAlphabet.Encode(s.Text) });
        }
    }
}

/// <summary>Split on a literal or regex (Llama-3 and Qwen2 put their word regex here).</summary>
public sealed class SplitPreTokenizer : PreTokenizer
{
    private readonly OnigRegex _pattern;
    private readonly SplitBehavior _behavior;
    private readonly bool _invert;

    internal SplitPreTokenizer(OnigRegex pattern, SplitBehavior behavior, bool invert)
    {
        _pattern = pattern;
        _behavior = behavior;
        _invert = invert;
    }

    public override void PreTokenize(List<PreToken> pieces, List<PreToken> output)
    {
        var matches = new List<(int Start, int Length)>();
        foreach (var piece in pieces)
        {
            _pattern.FindMatches(piece.Text, matches);
            PatternSplitter.Split(piece, matches, _behavior, _invert, output);
        }
    }
}

/// <summary>
/// Splits off ASCII digits (tokenizers tests <c>char::is_ascii_digit</c>): each digit alone
/// when individual_digits (SmolLM2), else runs of digits.
/// </summary>
public sealed class DigitsPreTokenizer(bool individualDigits) : PreTokenizer
{
    public override void PreTokenize(List<PreToken> pieces, List<PreToken> output)
    {
        var matches = new List<(int Start, int Length)>();
        foreach (var piece in pieces)
        {
            matches.Clear();
            // Every digit is its own match; Contiguous then glues neighbouring ones together.
            for (int i = 0; i < piece.Text.Length; i++)
            {
                if (char.IsAsciiDigit(piece.Text[i])) matches.Add((i, 1));
            }
            PatternSplitter.Split(piece, matches, individualDigits ? SplitBehavior.Isolated : SplitBehavior.Contiguous, invert: false, output);
        }
    }
}

/// <summary>Metaspace settings shared by the pre-tokenizer and the decoder.</summary>
public sealed record MetaspaceOptions(char Replacement, MetaspaceOptions.Prepend PrependScheme, bool Split)
{
    public enum Prepend { Always, First, Never }

    internal static MetaspaceOptions FromJson(JsonElement e, TokenizerJson json, string component)
    {
        string rep = json.OptionalString(e, "replacement") ?? "\u2581";
        if (rep.Length != 1) json.Fail(component, $"Metaspace replacement must be one character, found \"{rep}\"");
        Prepend scheme;
        string? s = json.OptionalString(e, "prepend_scheme");
        if (s is null)
        {
            // Files written before tokenizers 0.14 carry add_prefix_space instead.
            scheme = json.Bool(e, "add_prefix_space", true) ? Prepend.Always : Prepend.Never;
        }
        else
        {
            scheme = s switch
            {
                "always" => Prepend.Always,
                "first" => Prepend.First,
                "never" => Prepend.Never,
                _ => json.Unsupported<Prepend>(component, "Metaspace prepend_scheme", s),
            };
        }
        return new MetaspaceOptions(rep[0], scheme, json.Bool(e, "split", true));
    }
}

/// <summary>
/// SentencePiece-style whitespace: ' ' → '▁', prepend '▁' per prepend_scheme, and with split
/// cut before each '▁' (tokenizers metaspace.rs, MergedWithNext).
/// </summary>
public sealed class MetaspacePreTokenizer(MetaspaceOptions options) : PreTokenizer
{
    public override void PreTokenize(List<PreToken> pieces, List<PreToken> output)
    {
        var matches = new List<(int Start, int Length)>();
        foreach (var piece in pieces)
        {
            string text = piece.Text.Replace(' ', options.Replacement);
            bool prepend = options.PrependScheme switch
            {
                MetaspaceOptions.Prepend.Always => true,
                MetaspaceOptions.Prepend.First => piece.AtStart,
                _ => false,
            };
            if (prepend && !text.StartsWith(options.Replacement)) text = options.Replacement + text;
            var p = piece with { Text = text };
            if (!options.Split)
            {
                if (text.Length > 0) output.Add(p);
                continue;
            }
            matches.Clear();
            for (int i = 0; i < text.Length; i++)
            {
                if (text[i] == options.Replacement) matches.Add((i, 1));
            }
            PatternSplitter.Split(p, matches, SplitBehavior.MergedWithNext, invert: false, output);
        }
    }
}

/// <summary>Runs pre-tokenizers one after another, each on all the pieces of the previous.</summary>
public sealed class SequencePreTokenizer(IReadOnlyList<PreTokenizer> preTokenizers) : PreTokenizer
{
    public override void PreTokenize(List<PreToken> pieces, List<PreToken> output)
    {
        var current = pieces;
        for (int i = 0; i < preTokenizers.Count; i++)
        {
            var next = i == preTokenizers.Count - 1 ? output : new List<PreToken>();
            preTokenizers[i].PreTokenize(current, next);
            current = next;
        }
        if (preTokenizers.Count == 0) output.AddRange(pieces);
    }
}
