using LoraServe.Core.Kernels;

namespace LoraServe.Models.Llama;

/// <summary>
/// One forward step's work: the new tokens of many sequences flattened into one batch (some
/// sequences in prefill with many tokens, others decoding one). Sequence s owns rows
/// Sequences[s].TokenOffset … +TokenCount−1, at absolute positions StartPosition …, and its
/// KV lives in the paged cache blocks its BlockTable names. The block table must already
/// cover StartPosition + TokenCount positions (the caller — the block manager — reserves them).
/// </summary>
public sealed class ForwardBatch
{
    public ForwardBatch(int[] tokenIds, AttentionSequence[] sequences, int[] logitRows)
    {
        TokenIds = tokenIds;
        Sequences = sequences;
        LogitRows = logitRows;
        Positions = new int[tokenIds.Length];
        int expected = 0;
        foreach (var s in sequences)
        {
            if (s.TokenOffset != expected) throw new ArgumentException($"sequence rows must be contiguous and in order: expected offset {expected}, got {s.TokenOffset}");
            if (s.TokenCount <= 0) throw new ArgumentException($"sequence at offset {s.TokenOffset} has no tokens");
            if (s.StartPosition < 0) throw new ArgumentException($"negative start position {s.StartPosition}");
            for (int t = 0; t < s.TokenCount; t++) Positions[s.TokenOffset + t] = s.StartPosition + t;
            expected += s.TokenCount;
        }
        if (expected != tokenIds.Length) throw new ArgumentException($"sequences cover {expected} rows, batch has {tokenIds.Length} tokens");
        foreach (int r in logitRows)
            if ((uint)r >= (uint)tokenIds.Length) throw new ArgumentException($"logit row {r} outside the batch of {tokenIds.Length} tokens");
    }

    /// <summary>Flattened token ids, (TokenCount).</summary>
    public int[] TokenIds { get; }

    /// <summary>Absolute position of every row, derived from <see cref="Sequences"/>.</summary>
    public int[] Positions { get; }

    public AttentionSequence[] Sequences { get; }

    /// <summary>Rows whose next-token logits the caller wants (usually each sequence's last row).</summary>
    public int[] LogitRows { get; }

    public int TokenCount => TokenIds.Length;

    /// <summary>Per-row corrections after each projection (unmerged LoRA adapters); null for the plain base model.</summary>
    public ILinearDelta? Delta { get; init; }

    /// <summary>A batch that asks for logits at the last row of every sequence.</summary>
    public static ForwardBatch LastTokenLogits(int[] tokenIds, AttentionSequence[] sequences)
    {
        var rows = new int[sequences.Length];
        for (int i = 0; i < sequences.Length; i++) rows[i] = sequences[i].TokenOffset + sequences[i].TokenCount - 1;
        return new ForwardBatch(tokenIds, sequences, rows);
    }
}
