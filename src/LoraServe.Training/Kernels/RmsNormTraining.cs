using System.Numerics.Tensors;
using LoraServe.Core.Threading;

namespace LoraServe.Training.Kernels;

/// <summary>
/// RMSNorm forward (saving 1/rms per row) and backward, as HF LlamaRMSNorm:
/// y = x·r·w with r = 1/sqrt(mean(x²) + eps). Backward, per row with g = dy⊙w:
/// dx = r·g − x·r³·(g·x)/dim, and dw += dy⊙x·r summed over rows.
/// </summary>
public static unsafe class RmsNormTraining
{
    private const int RowsPerTask = 16;

    /// <summary>x, y: (rows, dim); weight: (dim); invRms: (rows) receives r per row.</summary>
    public static void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> y, Span<float> invRms, int rows)
    {
        int dim = weight.Length;
        Check(x.Length, y.Length, invRms.Length, rows, dim);
        fixed (float* xp = x) fixed (float* wp = weight) fixed (float* yp = y) fixed (float* rp = invRms)
        {
            var job = new Job { X = xp, W = wp, Y = yp, Inv = rp, Dim = dim, Rows = rows, Eps = eps };
            Dispatch(&ForwardTask, &job, rows, dim);
        }
    }

    /// <summary>
    /// dy: (rows, dim); x and invRms as in the forward; dx: (rows, dim) is added to (it is the residual
    /// stream's gradient). gradWeight: (dim), accumulated when non-empty (full-parameter mode), summed
    /// row by row in order on the calling thread so the result does not depend on thread scheduling.
    /// </summary>
    public static void Backward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> invRms,
        Span<float> dx, Span<float> gradWeight, int rows)
    {
        int dim = weight.Length;
        Check(x.Length, dx.Length, invRms.Length, rows, dim);
        if (dy.Length < (long)rows * dim) throw new ArgumentException($"dy has {dy.Length} elements, needs {rows}x{dim}", nameof(dy));
        fixed (float* dyp = dy) fixed (float* xp = x) fixed (float* wp = weight) fixed (float* rp = invRms) fixed (float* dxp = dx)
        {
            var job = new Job { Dy = dyp, X = xp, W = wp, Inv = rp, Y = dxp, Dim = dim, Rows = rows };
            Dispatch(&BackwardTask, &job, rows, dim);
        }
        if (gradWeight.IsEmpty) return;
        Span<float> term = dim <= 4096 ? stackalloc float[dim] : new float[dim];
        for (int r = 0; r < rows; r++)
        {
            TensorPrimitives.Multiply(dy.Slice(r * dim, dim), x.Slice(r * dim, dim), term);
            TensorPrimitives.MultiplyAdd(term, invRms[r], gradWeight, gradWeight);
        }
    }

    private static void Check(int xLength, int yLength, int invLength, int rows, int dim)
    {
        if (rows < 0) throw new ArgumentOutOfRangeException(nameof(rows));
        if (xLength < (long)rows * dim) throw new ArgumentException($"x has {xLength} elements, needs {rows}x{dim}");
        if (yLength < (long)rows * dim) throw new ArgumentException($"output has {yLength} elements, needs {rows}x{dim}");
        if (invLength < rows) throw new ArgumentException($"invRms has {invLength} elements, needs {rows}");
    }

    private static void Dispatch(delegate*<void*, int, void> task, Job* job, int rows, int dim)
    {
        int tasks = (rows + RowsPerTask - 1) / RowsPerTask;
        if ((long)rows * dim < 1 << 15) for (int t = 0; t < tasks; t++) task(job, t);
        else KernelThreadPool.Run(task, job, tasks);
    }

    private struct Job
    {
        public float* X, W, Y, Inv, Dy;
        public int Dim, Rows;
        public float Eps;
    }

    private static void ForwardTask(void* state, int task)
    {
        var j = (Job*)state;
        int dim = j->Dim, end = Math.Min(j->Rows, (task + 1) * RowsPerTask);
        var w = new ReadOnlySpan<float>(j->W, dim);
        for (int r = task * RowsPerTask; r < end; r++)
        {
            var x = new ReadOnlySpan<float>(j->X + (long)r * dim, dim);
            var y = new Span<float>(j->Y + (long)r * dim, dim);
            float inv = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(x) / dim + j->Eps);
            j->Inv[r] = inv;
            TensorPrimitives.Multiply(x, inv, y);
            TensorPrimitives.Multiply(y, w, y);
        }
    }

    private static void BackwardTask(void* state, int task)
    {
        var j = (Job*)state;
        int dim = j->Dim, end = Math.Min(j->Rows, (task + 1) * RowsPerTask);
        var w = new ReadOnlySpan<float>(j->W, dim);
        Span<float> g = dim <= 4096 ? stackalloc float[dim] : new float[dim];
        for (int r = task * RowsPerTask; r < end; r++)
        {
            var x = new ReadOnlySpan<float>(j->X + (long)r * dim, dim);
            var dy = new ReadOnlySpan<float>(j->Dy + (long)r * dim, dim);
            var dx = new Span<float>(j->Y + (long)r * dim, dim);
            float inv = j->Inv[r];
            TensorPrimitives.Multiply(dy, w, g);
            float gx = TensorPrimitives.Dot(g, x);
            float c = -inv * inv * inv * gx / dim;
            // dx += inv·g + c·x
            TensorPrimitives.MultiplyAdd(g, inv, dx, dx);
            TensorPrimitives.MultiplyAdd(x, c, dx, dx);
        }
    }
}
