using System.Text.Json;

namespace LoraServe.Models.Tokenization;

/// <summary>One entry of tokenizer.json "added_tokens" (tokenizers <c>AddedToken</c>).</summary>
public sealed record AddedToken(int Id, string Content, bool Special, bool SingleWord, bool LStrip, bool RStrip, bool Normalized);

/// <summary>
/// Finds added tokens in text before the model sees it, as tokenizers' <c>AddedVocabulary</c>
/// does: leftmost-longest matching (its Aho-Corasick runs with MatchKind::LeftmostLongest);
/// tokens with normalized=false are matched in the raw text, those with normalized=true in
/// the normalized text of what is left. single_word rejects a match glued to a word character;
/// lstrip/rstrip let the match swallow neighbouring whitespace.
/// </summary>
public sealed class AddedVocabulary
{
    private readonly Matcher _raw;
    private readonly Matcher _normalized;

    public AddedVocabulary(IReadOnlyList<AddedToken> tokens, Normalizer? normalizer)
    {
        Tokens = tokens;
        var raw = new List<(string, AddedToken)>();
        var norm = new List<(string, AddedToken)>();
        foreach (var t in tokens)
        {
            if (t.Content.Length == 0) continue;
            if (t.Normalized)
                norm.Add((normalizer?.Normalize(t.Content) ?? t.Content, t));
            else
                raw.Add((t.Content, t));
        }
        _raw = new Matcher(raw);
        _normalized = new Matcher(norm);
    }

    public IReadOnlyList<AddedToken> Tokens { get; }

    /// <summary>
    /// Cuts <paramref name="text"/> into added tokens (Id set) and plain pieces (Id null).
    /// Plain pieces keep their start offset so the caller can tell which one opens the input.
    /// </summary>
    public void SplitRaw(string text, List<(string? Text, int Start, int? Id)> output) => _raw.Split(text, output);

    /// <summary>The same, for tokens matched after normalization.</summary>
    public void SplitNormalized(string text, List<(string? Text, int Start, int? Id)> output) => _normalized.Split(text, output);

    internal static List<AddedToken> FromJson(JsonElement root, TokenizerJson json)
    {
        var list = new List<AddedToken>();
        if (!root.TryGetProperty("added_tokens", out var arr) || arr.ValueKind == JsonValueKind.Null) return list;
        if (arr.ValueKind != JsonValueKind.Array) json.Fail("added_tokens", "must be an array");
        int i = 0;
        foreach (var t in arr.EnumerateArray())
        {
            string component = $"added_tokens[{i++}]";
            int id = json.Int(t, "id", -1, component);
            if (id < 0) json.Fail(component, "missing non-negative \"id\"");
            bool special = json.Bool(t, "special", false);
            list.Add(new AddedToken(id, json.String(t, "content", component), special, json.Bool(t, "single_word", false),
                json.Bool(t, "lstrip", false), json.Bool(t, "rstrip", false), json.Bool(t, "normalized", !special)));
        }
        return list;
    }

    private sealed class Matcher
    {
        /// <summary>Candidates by first character, longest content first.</summary>
        private readonly Dictionary<char, (string Content, AddedToken Token)[]> _byFirst = new();

        public Matcher(List<(string Content, AddedToken Token)> tokens)
        {
            foreach (var g in tokens.Where(t => t.Content.Length > 0).GroupBy(t => t.Content[0]))
            {
                _byFirst[g.Key] = g.OrderByDescending(t => t.Content.Length).ThenBy(t => t.Token.Id).ToArray();
            }
        }

        public void Split(string text, List<(string? Text, int Start, int? Id)> output)
        {
            if (_byFirst.Count == 0)
            {
                if (text.Length > 0) output.Add((text, 0, null));
                return;
            }
            int pieceStart = 0;
            int pos = 0;
            while (pos < text.Length)
            {
                if (!_byFirst.TryGetValue(text[pos], out var candidates) || !TryMatchAt(text, pos, candidates, out var token, out int length))
                {
                    pos++;
                    continue;
                }
                int start = pos;
                int stop = pos + length;
                if (token.LStrip)
                {
                    while (start > pieceStart && char.IsWhiteSpace(text[start - 1])) start--;
                }
                if (token.RStrip)
                {
                    while (stop < text.Length && char.IsWhiteSpace(text[stop])) stop++;
                }
                if (start > pieceStart) output.Add((text[pieceStart..start], pieceStart, null));
                output.Add((null, start, token.Id));
                pieceStart = stop;
                pos = stop;
            }
            if (pieceStart < text.Length) output.Add((text[pieceStart..], pieceStart, null));
        }

        private static bool TryMatchAt(string text, int pos, (string Content, AddedToken Token)[] candidates, out AddedToken token, out int length)
        {
            foreach (var (content, t) in candidates)
            {
                if (pos + content.Length > text.Length || string.CompareOrdinal(text, pos, content, 0, content.Length) != 0) continue;
                if (t.SingleWord)
                {
                    bool startOk = pos == 0 || !IsWordChar(text[pos - 1]);
                    int end = pos + content.Length;
                    bool stopOk = end == text.Length || !IsWordChar(text[end]);
                    // tokenizers skips this match (and tries no shorter token here).
                    if (!startOk || !stopOk) break;
                }
                token = t;
                length = content.Length;
                return true;
            }
            token = null!;
            length = 0;
            return false;
        }

        private static bool IsWordChar(char c) => char.IsLetterOrDigit(c) || c == '_';
    }
}
