namespace LoraServe.Training.Data;

/// <summary>
/// One tokenized training sequence: Targets[i] is the token row i predicts (Tokens[i+1]) where the
/// loss counts, −1 elsewhere (prompt and system/user turns, the final row). LineNumber is the
/// 1-based JSONL line it came from.
/// </summary>
public sealed record TrainingExample(int[] Tokens, int[] Targets, int LineNumber)
{
    public int LossTokens => Targets.Count(t => t >= 0);

    /// <summary>
    /// Builds an example from text segments already tokenized, each marked as trained-on or not:
    /// row i predicts token i+1 and counts when token i+1 belongs to a trained segment. Truncates
    /// to <paramref name="maxSeqLen"/> tokens.
    /// </summary>
    public static TrainingExample FromSegments(IEnumerable<(IReadOnlyList<int> Tokens, bool Trained)> segments, int maxSeqLen, int lineNumber)
    {
        var tokens = new List<int>();
        var trained = new List<bool>();
        foreach (var (seg, train) in segments)
        {
            tokens.AddRange(seg);
            for (int i = 0; i < seg.Count; i++) trained.Add(train);
        }
        int n = Math.Min(tokens.Count, maxSeqLen);
        var targets = new int[n];
        for (int i = 0; i < n; i++) targets[i] = i + 1 < n && trained[i + 1] ? tokens[i + 1] : -1;
        return new TrainingExample(tokens.GetRange(0, n).ToArray(), targets, lineNumber);
    }
}
