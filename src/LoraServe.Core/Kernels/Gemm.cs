using LoraServe.Core.Tensors;

namespace LoraServe.Core.Kernels;

/// <summary>
/// Matrix products in the nn.Linear layout. PLACEHOLDER implementation: correct, scalar,
/// single-threaded. To be replaced by the packed, cache-blocked, multi-threaded SIMD kernel.
/// </summary>
public static unsafe class Gemm
{
    /// <summary>
    /// y = x·Wᵀ (or y += x·Wᵀ when <paramref name="accumulate"/>).
    /// x: (m, w.Cols) row-major; w: (w.Rows, w.Cols) in its dtype; y: (m, w.Rows) row-major.
    /// </summary>
    public static void MatMulTransposed(ReadOnlySpan<float> x, int m, WeightMatrix w, Span<float> y, bool accumulate = false)
    {
        int k = w.Cols, n = w.Rows;
        if (x.Length < m * k) throw new ArgumentException($"x has {x.Length} elements, needs {m}x{k}", nameof(x));
        if (y.Length < m * n) throw new ArgumentException($"y has {y.Length} elements, needs {m}x{n}", nameof(y));
        var row = new float[k];
        for (int j = 0; j < n; j++)
        {
            w.ReadRow(j, row);
            for (int i = 0; i < m; i++)
            {
                float s = 0;
                var xi = x.Slice(i * k, k);
                for (int p = 0; p < k; p++) s += xi[p] * row[p];
                if (accumulate) y[i * n + j] += s; else y[i * n + j] = s;
            }
        }
    }

    /// <summary>
    /// y = x·bᵀ (or y += x·bᵀ) for float32 operands. x: (m, k); b: (n, k); y: (m, n).
    /// </summary>
    public static void MatMulTransposed(ReadOnlySpan<float> x, int m, ReadOnlySpan<float> b, int n, int k, Span<float> y, bool accumulate = false)
    {
        if (x.Length < m * k) throw new ArgumentException($"x has {x.Length} elements, needs {m}x{k}", nameof(x));
        if (b.Length < n * k) throw new ArgumentException($"b has {b.Length} elements, needs {n}x{k}", nameof(b));
        if (y.Length < m * n) throw new ArgumentException($"y has {y.Length} elements, needs {m}x{n}", nameof(y));
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                float s = 0;
                for (int p = 0; p < k; p++) s += x[i * k + p] * b[j * k + p];
                if (accumulate) y[i * n + j] += s; else y[i * n + j] = s;
            }
    }
}
