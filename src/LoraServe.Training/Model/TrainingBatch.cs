namespace LoraServe.Training.Model;

/// <summary>
/// Whole sequences flattened into one batch: sequence s owns rows [Σ lengths before s, + Lengths[s]),
/// at positions 0 … Lengths[s]−1. Targets[i] is the token row i should predict, or −1 where no loss
/// is taken (prompt tokens, the last token of a sequence).
/// </summary>
public sealed class TrainingBatch
{
    public TrainingBatch(int[] tokens, int[] targets, int[] lengths)
    {
        if (tokens.Length != targets.Length) throw new ArgumentException($"{tokens.Length} tokens but {targets.Length} targets");
        if (lengths.Sum() != tokens.Length) throw new ArgumentException($"sequence lengths sum to {lengths.Sum()}, batch has {tokens.Length} tokens");
        Tokens = tokens;
        Targets = targets;
        Lengths = lengths;
        Positions = new int[tokens.Length];
        int row = 0;
        foreach (int len in lengths)
        {
            if (len <= 0) throw new ArgumentException("empty sequence in a batch");
            for (int p = 0; p < len; p++) Positions[row++] = p;
        }
        foreach (int t in targets) if (t >= 0) LossTokens++;
    }

    public int[] Tokens { get; }
    public int[] Targets { get; }
    public int[] Lengths { get; }
    public int[] Positions { get; }
    public int TokenCount => Tokens.Length;
    public int LossTokens { get; }
    public int MaxLength => Lengths.Max();

    /// <summary>Concatenates sequences given as (tokens, targets) pairs.</summary>
    public static TrainingBatch FromSequences(IEnumerable<(int[] Tokens, int[] Targets)> sequences)
    {
        var tokens = new List<int>();
        var targets = new List<int>();
        var lengths = new List<int>();
        foreach (var (tok, tgt) in sequences)
        {
            tokens.AddRange(tok);
            targets.AddRange(tgt);
            lengths.Add(tok.Length);
        }
        return new TrainingBatch(tokens.ToArray(), targets.ToArray(), lengths.ToArray());
    }
}
