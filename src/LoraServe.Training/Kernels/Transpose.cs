using LoraServe.Core.Threading;

namespace LoraServe.Training.Kernels;

/// <summary>
/// Blocked matrix transpose. The backward pass needs products the inference GEMM does not offer
/// (dX = dY·W, dW = dYᵀ·X); transposing one operand turns each into Gemm's y = x·bᵀ form, so the
/// training step reuses the tuned tile kernels instead of growing a second GEMM. A transpose costs
/// one read and one write per element, small next to the O(rows·cols·k) product it enables.
/// </summary>
public static unsafe class Transpose
{
    private const int Tile = 32;
    private const long ParallelThresholdElements = 1 << 16;

    /// <summary>src: (rows, cols) row-major; dst: (cols, rows) row-major. T is float or a 16-bit weight type.</summary>
    public static void Apply<T>(ReadOnlySpan<T> src, int rows, int cols, Span<T> dst) where T : unmanaged
    {
        if (src.Length < (long)rows * cols) throw new ArgumentException($"src has {src.Length} elements, needs {rows}x{cols}", nameof(src));
        if (dst.Length < (long)rows * cols) throw new ArgumentException($"dst has {dst.Length} elements, needs {cols}x{rows}", nameof(dst));
        if (rows == 0 || cols == 0) return;
        fixed (T* s = src)
        fixed (T* d = dst)
        {
            var job = new Job<T> { Src = s, Dst = d, Rows = rows, Cols = cols, RowTiles = (rows + Tile - 1) / Tile };
            int tasks = job.RowTiles * ((cols + Tile - 1) / Tile);
            if ((long)rows * cols < ParallelThresholdElements) for (int t = 0; t < tasks; t++) Run<T>(&job, t);
            else KernelThreadPool.Run(&Run<T>, &job, tasks);
        }
    }

    private struct Job<T> where T : unmanaged
    {
        public T* Src, Dst;
        public int Rows, Cols, RowTiles;
    }

    private static void Run<T>(void* state, int task) where T : unmanaged
    {
        var job = (Job<T>*)state;
        int r0 = task % job->RowTiles * Tile, c0 = task / job->RowTiles * Tile;
        int r1 = Math.Min(job->Rows, r0 + Tile), c1 = Math.Min(job->Cols, c0 + Tile);
        for (int c = c0; c < c1; c++)
        {
            T* d = job->Dst + (long)c * job->Rows;
            for (int r = r0; r < r1; r++) d[r] = job->Src[(long)r * job->Cols + c];
        }
    }
}
