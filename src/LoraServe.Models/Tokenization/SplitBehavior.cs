namespace LoraServe.Models.Tokenization;

/// <summary>
/// What happens to the delimiters when a piece of text is split on a pattern — HF tokenizers'
/// <c>SplitDelimiterBehavior</c> (tokenizers/src/tokenizer/normalizer.rs <c>split</c>).
/// </summary>
public enum SplitBehavior
{
    Removed,
    Isolated,
    MergedWithPrevious,
    MergedWithNext,
    Contiguous,
}

/// <summary>
/// A piece of the input on its way to the model. <see cref="AtStart"/> is true only for the
/// piece that begins at offset 0 of the original text: Metaspace's prepend_scheme "first"
/// prepends '▁' to that piece alone (tokenizers checks <c>offsets_original().0 == 0</c>).
/// </summary>
public readonly record struct PreToken(string Text, bool AtStart);

/// <summary>HF tokenizers' split-by-pattern, shared by the Split, Digits and Metaspace pre-tokenizers.</summary>
internal static class PatternSplitter
{
    /// <summary>
    /// Splits <paramref name="piece"/> given the matches of the pattern (sorted, non-overlapping,
    /// non-empty) and appends the non-empty parts to <paramref name="output"/>; ports the fold in
    /// tokenizers' <c>NormalizedString::split</c>.
    /// </summary>
    public static void Split(PreToken piece, List<(int Start, int Length)> matches, SplitBehavior behavior, bool invert, List<PreToken> output)
    {
        string text = piece.Text;
        // Cover the whole string with (start, end, isMatch) spans.
        var spans = new List<(int Start, int End, bool IsMatch)>(matches.Count * 2 + 1);
        int prev = 0;
        foreach (var (start, length) in matches)
        {
            if (start > prev) spans.Add((prev, start, false));
            spans.Add((start, start + length, true));
            prev = start + length;
        }
        if (prev < text.Length || spans.Count == 0) spans.Add((prev, text.Length, false));
        if (invert)
        {
            for (int i = 0; i < spans.Count; i++) spans[i] = (spans[i].Start, spans[i].End, !spans[i].IsMatch);
        }

        var parts = new List<(int Start, int End, bool Remove)>(spans.Count);
        switch (behavior)
        {
            case SplitBehavior.Isolated:
                foreach (var s in spans) parts.Add((s.Start, s.End, false));
                break;
            case SplitBehavior.Removed:
                foreach (var s in spans) parts.Add((s.Start, s.End, s.IsMatch));
                break;
            case SplitBehavior.Contiguous:
            {
                bool previousMatch = false;
                foreach (var s in spans)
                {
                    if (s.IsMatch == previousMatch && parts.Count > 0)
                        parts[^1] = (parts[^1].Start, s.End, false);
                    else
                        parts.Add((s.Start, s.End, false));
                    previousMatch = s.IsMatch;
                }
                break;
            }
            case SplitBehavior.MergedWithPrevious:
            {
                bool previousMatch = false;
                foreach (var s in spans)
                {
                    if (s.IsMatch && !previousMatch && parts.Count > 0)
                        parts[^1] = (parts[^1].Start, s.End, false);
                    else
                        parts.Add((s.Start, s.End, false));
                    previousMatch = s.IsMatch;
                }
                break;
            }
            case SplitBehavior.MergedWithNext:
            {
                bool previousMatch = false;
                for (int i = spans.Count - 1; i >= 0; i--)
                {
                    var s = spans[i];
                    if (s.IsMatch && !previousMatch && parts.Count > 0)
                        parts[^1] = (s.Start, parts[^1].End, false);
                    else
                        parts.Add((s.Start, s.End, false));
                    previousMatch = s.IsMatch;
                }
                parts.Reverse();
                break;
            }
        }

        foreach (var (start, end, remove) in parts)
        {
            if (remove || end == start) continue;
            output.Add(new PreToken(start == 0 && end == text.Length ? text : text[start..end], piece.AtStart && start == 0));
        }
    }
}
