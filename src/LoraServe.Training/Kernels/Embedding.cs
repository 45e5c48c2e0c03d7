using LoraServe.Core.Tensors;
using System.Numerics.Tensors;

namespace LoraServe.Training.Kernels;

/// <summary>
/// Token embedding lookup and its backward. The backward (full-parameter mode only: LoRA leaves
/// the embedding frozen) scatter-adds each row's gradient into its token's row, in token order so
/// repeated tokens sum deterministically.
/// </summary>
public static class Embedding
{
    /// <summary>table: (vocab, hidden); ids: (tokens); h: (tokens, hidden).</summary>
    public static void Forward(WeightMatrix table, ReadOnlySpan<int> ids, Span<float> h)
    {
        int hidden = table.Cols;
        for (int t = 0; t < ids.Length; t++)
        {
            if ((uint)ids[t] >= (uint)table.Rows) throw new ArgumentOutOfRangeException(nameof(ids), ids[t], $"token id at row {t} is outside the vocabulary of {table.Rows}");
            table.ReadRow(ids[t], h.Slice(t * hidden, hidden));
        }
    }

    /// <summary>dh: (tokens, hidden); gradTable: (vocab, hidden), accumulated.</summary>
    public static void Backward(ReadOnlySpan<float> dh, ReadOnlySpan<int> ids, int hidden, Span<float> gradTable)
    {
        for (int t = 0; t < ids.Length; t++)
        {
            var row = gradTable.Slice(ids[t] * hidden, hidden);
            TensorPrimitives.Add(row, dh.Slice(t * hidden, hidden), row);
        }
    }
}
