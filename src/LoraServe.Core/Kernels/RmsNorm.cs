using System.Runtime.Intrinsics;
using LoraServe.Core.Threading;

namespace LoraServe.Core.Kernels;

/// <summary>
/// RMSNorm as in HF LlamaRMSNorm: y = x / sqrt(mean(x²) + eps) · weight. HF computes the variance in
/// float32 (hidden_states.to(torch.float32).pow(2).mean(-1)); we accumulate in float32 vectors too.
/// Rows are spread over the kernel pool when there are enough of them.
/// </summary>
public static unsafe class RmsNorm
{
    private const long ParallelThresholdElements = 1 << 15;
    private const int RowsPerTask = 8;

    /// <summary>x, y: (rows, dim); weight: (dim). y may alias x.</summary>
    public static void Apply(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> y, int rows)
    {
        int dim = weight.Length;
        if (rows < 0) throw new ArgumentOutOfRangeException(nameof(rows), rows, "rows must be non-negative");
        if (x.Length < (long)rows * dim) throw new ArgumentException($"x has {x.Length} elements, needs {rows}x{dim}", nameof(x));
        if (y.Length < (long)rows * dim) throw new ArgumentException($"y has {y.Length} elements, needs {rows}x{dim}", nameof(y));
        if (rows == 0 || dim == 0) return;
        fixed (float* xp = x)
        fixed (float* wp = weight)
        fixed (float* yp = y)
        {
            var job = new Job { X = xp, W = wp, Y = yp, Dim = dim, Rows = rows, Eps = eps, Isa = KernelIsa.Current };
            int tasks = (rows + RowsPerTask - 1) / RowsPerTask;
            if ((long)rows * dim < ParallelThresholdElements) for (int t = 0; t < tasks; t++) Run(&job, t);
            else KernelThreadPool.Run(&Run, &job, tasks);
        }
    }

    private struct Job
    {
        public float* X, W, Y;
        public int Dim, Rows;
        public float Eps;
        public IsaLevel Isa;
    }

    private static void Run(void* state, int task)
    {
        var job = (Job*)state;
        int dim = job->Dim;
        int end = Math.Min(job->Rows, (task + 1) * RowsPerTask);
        for (int r = task * RowsPerTask; r < end; r++)
        {
            float* xr = job->X + (long)r * dim, yr = job->Y + (long)r * dim, w = job->W;
            float inv = 1f / MathF.Sqrt(VectorMath.SumOfSquares(xr, dim, job->Isa) / dim + job->Eps);
            int i = 0;
            if (job->Isa == IsaLevel.Vector512)
            {
                var s = Vector512.Create(inv);
                for (; i + 16 <= dim; i += 16) (Vector512.Load(xr + i) * s * Vector512.Load(w + i)).Store(yr + i);
            }
            else if (job->Isa == IsaLevel.Vector256)
            {
                var s = Vector256.Create(inv);
                for (; i + 8 <= dim; i += 8) (Vector256.Load(xr + i) * s * Vector256.Load(w + i)).Store(yr + i);
            }
            for (; i < dim; i++) yr[i] = xr[i] * inv * w[i];
        }
    }
}
