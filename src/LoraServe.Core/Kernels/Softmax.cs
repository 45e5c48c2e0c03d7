using LoraServe.Core.Threading;

namespace LoraServe.Core.Kernels;

/// <summary>Numerically stable softmax (max-shifted) and log-sum-exp.</summary>
public static unsafe class Softmax
{
    private const long ParallelThresholdElements = 1 << 15;

    /// <summary>In-place numerically stable softmax over the whole span.</summary>
    public static void InPlace(Span<float> x)
    {
        if (x.IsEmpty) return;
        fixed (float* p = x) Row(p, x.Length, KernelIsa.Current);
    }

    /// <summary>In-place softmax of each row of x: (rows, cols), rows spread over the kernel pool.</summary>
    public static void Rows(Span<float> x, int rows, int cols)
    {
        if (rows < 0 || cols < 0) throw new ArgumentException($"invalid shape ({rows}, {cols})");
        if (x.Length < (long)rows * cols) throw new ArgumentException($"x has {x.Length} elements, needs {rows}x{cols}", nameof(x));
        if (rows == 0 || cols == 0) return;
        fixed (float* p = x)
        {
            var job = new Job { X = p, Cols = cols, Isa = KernelIsa.Current };
            if ((long)rows * cols < ParallelThresholdElements) for (int r = 0; r < rows; r++) RunRow(&job, r);
            else KernelThreadPool.Run(&RunRow, &job, rows);
        }
    }

    /// <summary>log(Σ exp(x)), computed stably: max-shifted; the exponentials are summed in float32 vectors, the log in double.</summary>
    public static double LogSumExp(ReadOnlySpan<float> x)
    {
        if (x.IsEmpty) return double.NegativeInfinity;
        var isa = KernelIsa.Current;
        fixed (float* p = x)
        {
            float max = VectorMath.Max(p, x.Length, isa);
            if (float.IsNegativeInfinity(max) || float.IsNaN(max)) return max;
            // exp without writing back: reuse the in-place kernel on a thread-local copy would cost a
            // pass; instead sum chunk by chunk through a small stack buffer.
            const int Chunk = 256;
            float* buffer = stackalloc float[Chunk];
            double sum = 0;
            for (int i = 0; i < x.Length; i += Chunk)
            {
                int n = Math.Min(Chunk, x.Length - i);
                Buffer.MemoryCopy(p + i, buffer, Chunk * sizeof(float), n * sizeof(float));
                sum += VectorMath.ExpShiftedInPlace(buffer, n, max, isa);
            }
            return max + Math.Log(sum);
        }
    }

    private struct Job
    {
        public float* X;
        public int Cols;
        public IsaLevel Isa;
    }

    private static void RunRow(void* state, int row)
    {
        var job = (Job*)state;
        Row(job->X + (long)row * job->Cols, job->Cols, job->Isa);
    }

    private static void Row(float* x, int n, IsaLevel isa)
    {
        float max = VectorMath.Max(x, n, isa);
        float sum = VectorMath.ExpShiftedInPlace(x, n, max, isa);
        VectorMath.Scale(x, n, 1f / sum, isa);
    }
}
