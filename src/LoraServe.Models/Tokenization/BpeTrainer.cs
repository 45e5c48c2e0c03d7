namespace LoraServe.Models.Tokenization;

/// <summary>
/// A small, deterministic byte-level BPE trainer (the counting loop of Sennrich et al. 2016 /
/// tokenizers' BpeTrainer, without its speed-ups): start from the 256 byte characters,
/// repeatedly merge the most frequent adjacent pair (ties: ordinal order of the pair), stop at
/// the target vocabulary size or when every word is a single token. Pairs seen once are merged
/// last, which lets a small corpus still fill a vocabulary of a few thousand tokens.
/// </summary>
public static class BpeTrainer
{
    /// <summary>Learned tokens (after the byte alphabet, in merge order) and merges.</summary>
    public sealed record Result(IReadOnlyList<string> Alphabet, IReadOnlyList<string> MergedTokens, IReadOnlyList<(string Left, string Right)> Merges);

    /// <summary>
    /// Trains on <paramref name="text"/>, pre-tokenized by <paramref name="preTokenizer"/> (which
    /// must produce byte-level words), until alphabet + merged tokens reach <paramref name="maxTokens"/>.
    /// </summary>
    public static Result Train(string text, PreTokenizer preTokenizer, int maxTokens)
    {
        var alphabet = new List<string>(256);
        for (int b = 0; b < 256; b++) alphabet.Add(ByteLevelAlphabet.ByteToChar((byte)b).ToString());

        var words = new List<PreToken>();
        preTokenizer.PreTokenize([new PreToken(text, true)], words);
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var w in words) counts[w.Text] = counts.TryGetValue(w.Text, out int c) ? c + 1 : 1;

        var symbols = new List<List<string>>(counts.Count);
        var freq = new List<int>(counts.Count);
        foreach (var (word, count) in counts)
        {
            var s = new List<string>(word.Length);
            foreach (char ch in word) s.Add(ch.ToString());
            symbols.Add(s);
            freq.Add(count);
        }

        var known = new HashSet<string>(alphabet, StringComparer.Ordinal);
        var mergedTokens = new List<string>();
        var merges = new List<(string, string)>();
        var pairCounts = new Dictionary<(string, string), int>();
        while (alphabet.Count + mergedTokens.Count < maxTokens)
        {
            pairCounts.Clear();
            for (int w = 0; w < symbols.Count; w++)
            {
                var s = symbols[w];
                for (int i = 0; i + 1 < s.Count; i++)
                {
                    var pair = (s[i], s[i + 1]);
                    pairCounts[pair] = pairCounts.TryGetValue(pair, out int c) ? c + freq[w] : freq[w];
                }
            }
            (string Left, string Right) best = default;
            int bestCount = 0;
            foreach (var (pair, count) in pairCounts)
            {
                if (count > bestCount || (count == bestCount && Compare(pair, best) < 0))
                {
                    best = pair;
                    bestCount = count;
                }
            }
            if (bestCount == 0) break;

            string merged = best.Left + best.Right;
            merges.Add(best);
            if (known.Add(merged)) mergedTokens.Add(merged);
            foreach (var s in symbols)
            {
                for (int i = 0; i + 1 < s.Count; i++)
                {
                    if (s[i] == best.Left && s[i + 1] == best.Right)
                    {
                        s[i] = merged;
                        s.RemoveAt(i + 1);
                    }
                }
            }
        }
        return new Result(alphabet, mergedTokens, merges);
    }

    private static int Compare((string Left, string Right) a, (string Left, string Right) b)
    {
        int c = string.CompareOrdinal(a.Left, b.Left);
        return c != 0 ? c : string.CompareOrdinal(a.Right, b.Right);
    }
}
