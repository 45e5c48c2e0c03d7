using System.Diagnostics.CodeAnalysis;
using System.Numerics.Tensors;
using LoraServe.Core.Tensors;
using LoraServe.Core.Threading;

namespace LoraServe.Core.Kernels;

/// <summary>
/// Matrix products in the nn.Linear layout, y = x·Wᵀ, multi-threaded and SIMD (see docs/kernels.md).
///
/// Blocking (one task = a block of W rows × a chunk of x rows, handed out by
/// <see cref="KernelThreadPool"/>):
/// <list type="bullet">
/// <item>k is zero-padded to a multiple of <see cref="KAlign"/> so tile kernels have no tails; x is
///   copied only when k is not already aligned.</item>
/// <item>Batch-1 decode with BF16 weights (≥ <see cref="Tuning.GemvMinBytes"/> per call): the
///   streaming GEMV of <see cref="GemvKernels"/>, one contiguous part of the rows per thread, the
///   leftovers stolen in granules from the other parts' backs; the shared-input overloads (q/k/v,
///   gate/up) run their matrices as one job.</item>
/// <item>Decode (m ≤ <see cref="Tuning.FusedMaxM"/>, k aligned): W is read in place (16-bit
///   weights widened inside the Vector512 tile), so every weight byte streams from memory exactly
///   once per call, without a scratch round trip.</item>
/// <item>Otherwise a task widens (or copies, for f32) its block of W rows once into per-thread
///   scratch and reuses it for every x row of its chunk: for m &gt; 8 the block is
///   <see cref="Tuning.LargeMBlockRows"/> rows (≤ ~300 KB, stays in the 1 MB L2), for small m it is
///   sized to ~32 KB (L1).</item>
/// <item>k is cut into equal slices at most <see cref="Tuning.KC"/> wide so a 6-row W micro-panel plus
///   a 4-row x micro-panel stays in the 48 KB L1 while a tile is computed.</item>
/// <item>Tiles are <see cref="MR"/>×<see cref="NR"/> (see <see cref="GemmTileKernels"/>).</item>
/// </list>
/// </summary>
public static unsafe class Gemm
{
    internal const int MR = 4;
    internal const int NR = 6;
    internal const int KAlign = 16;
    private const int SmallM = 8;

    /// <summary>
    /// Blocking parameters. Fields rather than constants only so the bench can sweep them
    /// (`gemm-tune --param kc|block-rows|fused-max-m|decode-block-bytes`); the defaults are the measured best (docs/kernels.md).
    /// </summary>
    internal static class Tuning
    {
        /// <summary>
        /// Widest k-slice (a multiple of 16); k is cut into equal slices no wider. A 6-row W panel plus
        /// a 4-row x panel, 10 × 768 × 4 B = 30 KB for k = 1536, stays in the 48 KB L1.
        /// </summary>
        public static int KC = 1024;

        /// <summary>W rows per task when m &gt; 8: 48 rows × k ≤ 1536 × 4 B ≤ 295 KB widened, stays in L2.</summary>
        public static int LargeMBlockRows = 48;

        /// <summary>Up to this m, W is read in place (16-bit widened inside the tile) instead of packed into scratch.</summary>
        public static int FusedMaxM = 16;

        /// <summary>Bytes of W one decode (m ≤ 8, W read in place) task streams, before balancing.</summary>
        public static int DecodeBlockBytes = 64 * 1024;

        /// <summary>
        /// When W is read in place (streaming from DRAM): each tile prefetches, as it goes, the rows of
        /// the tile this many tiles ahead (0 = off). Software prefetch spread over the k loop, not a
        /// burst per tile: a burst of ~100 prefetches overflows the miss queue and measured no gain.
        /// </summary>
        public static int PrefetchTiles = 1;

        /// <summary>m = 1 with BF16 weights takes <see cref="GemvKernels"/> (0 = use the tiles, for comparison).</summary>
        public static int Gemv = 1;

        /// <summary>
        /// Batch-1 products of fewer weight bytes than this (per call, all shared-input matrices together)
        /// stay on the 1×6 tiles. With the pointer-walking GEMV loop, o_proj alone (663 KB) is faster
        /// on the GEMV too (decode step 1.47 → 1.40× the bound with 1 MB → 256 KB here, docs/kernels.md).
        /// </summary>
        public static int GemvMinBytes = 256 * 1024;

        /// <summary>How far ahead of its read pointer the batch-1 GEMV prefetches, in bytes (0 = off).</summary>
        public static int GemvPrefetchBytes = 4096;

        /// <summary>
        /// Granule of the batch-1 GEMV's schedule, in bytes of W (whole rows, at least one): each thread
        /// owns a contiguous part of the rows and claims granules from its front; a thread done with
        /// its part claims granules from the backs of the others. 16 KB (~0.5 µs of streaming) keeps
        /// the tail short; the claims are one uncontended CAS per granule.
        /// </summary>
        public static int GemvGranuleBytes = 16 * 1024;
    }

    private const int SmallMBlockBytes = 32 * 1024;

    /// <summary>Below this many multiply-adds a call runs on the calling thread: waking workers costs more.</summary>
    private const long ParallelThresholdMacs = 1 << 16;

    private const int ScratchPaddedX = 0;
    private const int ScratchPackedW = 1;
    private const int ScratchLocalY = 2;

    /// <summary>
    /// y = x·Wᵀ (or y += x·Wᵀ when <paramref name="accumulate"/>).
    /// x: (m, w.Cols) row-major; w: (w.Rows, w.Cols) in its dtype; y: (m, w.Rows) row-major.
    /// </summary>
    public static void MatMulTransposed(ReadOnlySpan<float> x, int m, WeightMatrix w, Span<float> y, bool accumulate = false)
    {
        ArgumentNullException.ThrowIfNull(w);
        int k = w.Cols, n = w.Rows;
        if (m < 0) ThrowNegative(nameof(m), m);
        if (x.Length < (long)m * k) ThrowTooShort(nameof(x), x.Length, m, k, w.Name);
        if (y.Length < (long)m * n) ThrowTooShort(nameof(y), y.Length, m, n, w.Name);
        if (m == 0) return;
        fixed (float* xp = x)
        fixed (float* yp = y)
            Multiply(xp, m, k, (void*)w.Data, w.DType, n, yp, accumulate);
    }

    /// <summary>
    /// y = x·bᵀ (or y += x·bᵀ) for float32 operands. x: (m, k); b: (n, k); y: (m, n).
    /// Used for LoRA's A (r×in) and B (out×r) factors, where n or k is the small rank r.
    /// </summary>
    public static void MatMulTransposed(ReadOnlySpan<float> x, int m, ReadOnlySpan<float> b, int n, int k, Span<float> y, bool accumulate = false)
    {
        if (m < 0) ThrowNegative(nameof(m), m);
        if (n < 0) ThrowNegative(nameof(n), n);
        if (k < 0) ThrowNegative(nameof(k), k);
        if (x.Length < (long)m * k) ThrowTooShort(nameof(x), x.Length, m, k, "");
        if (b.Length < (long)n * k) ThrowTooShort(nameof(b), b.Length, n, k, "");
        if (y.Length < (long)m * n) ThrowTooShort(nameof(y), y.Length, m, n, "");
        if (m == 0 || n == 0) return;
        if (k == 0)
        {
            if (!accumulate) y.Slice(0, m * n).Clear();
            return;
        }
        fixed (float* xp = x)
        fixed (float* bp = b)
        fixed (float* yp = y)
            Multiply(xp, m, k, bp, DType.F32, n, yp, accumulate);
    }

    /// <summary>Everything one call's tasks share; lives on the caller's stack for the call.</summary>
    private struct Job
    {
        public float* X;
        public int Ldx;
        public int M;
        public int K;
        public int Kp;
        public void* W;
        public DType WType;
        public bool WInPlace;
        public int N;
        public float* Y;
        public bool Accumulate;
        public int BlockRows;
        public int Blocks;
        public int MChunk;
        public int MChunks;
        public IsaLevel Isa;
    }

    private static void Multiply(float* x, int m, int k, void* w, DType wType, int n, float* y, bool accumulate)
    {
        if (m == 1 && wType == DType.BF16 && Tuning.Gemv != 0 && KernelIsa.Current >= IsaLevel.Vector256 && 2L * n * k >= Tuning.GemvMinBytes)
        {
            Gemv(x, k, (ushort*)w, n, y, accumulate);
            return;
        }
        var job = new Job
        {
            M = m, K = k, Kp = (k + KAlign - 1) / KAlign * KAlign, W = w, WType = wType, N = n, Y = y,
            Accumulate = accumulate, Isa = KernelIsa.Current,
        };
        job.X = x;
        job.Ldx = k;
        if (job.Kp != k)
        {
            // Zero-pad x rows to Kp so the tile kernels never see a k tail.
            float* xs = ThreadScratch.Get(ScratchPaddedX, (long)m * job.Kp);
            for (int i = 0; i < m; i++)
            {
                Buffer.MemoryCopy(x + (long)i * k, xs + (long)i * job.Kp, (long)k * sizeof(float), (long)k * sizeof(float));
                new Span<float>(xs + (long)i * job.Kp + k, job.Kp - k).Clear();
            }
            job.X = xs;
            job.Ldx = job.Kp;
        }
        // W is read in place (streamed, with software prefetch) when no padding is needed, m is small
        // (each W element feeds ≤ FusedMaxM rows, so widening inside the tile costs little) and it is
        // f32 or the Vector512 tiles can widen it on the fly. Otherwise a task first copies/widens its
        // block into scratch with one sequential pass (hardware-prefetch friendly) and computes from L2:
        // for large m, in-place f32 made the first x tile of every W tile wait on DRAM.
        job.WInPlace = job.Kp == k && m <= Tuning.FusedMaxM && (wType == DType.F32 || job.Isa == IsaLevel.Vector512);

        int threads = (long)m * n * k < ParallelThresholdMacs ? 1 : KernelThreadPool.AvailableThreads;
        if (m <= SmallM && job.WInPlace)
        {
            // Streaming: a task reads a contiguous run of W rows; longer runs let the prefetchers ramp
            // up, but keep ≥ 4 tasks per thread for balance.
            long rowBytes = (long)k * wType.SizeInBytes();
            int rows = (int)Math.Max(NR, Tuning.DecodeBlockBytes / rowBytes / NR * NR);
            int balanced = ((n + 4 * threads - 1) / (4 * threads) + NR - 1) / NR * NR;
            job.BlockRows = Math.Min(rows, Math.Max(NR, balanced));
        }
        else if (m <= SmallM)
        {
            int rows = SmallMBlockBytes / (job.Kp * sizeof(float)) / NR * NR;
            job.BlockRows = Math.Max(NR, rows);
        }
        else
        {
            job.BlockRows = Tuning.LargeMBlockRows;
        }
        job.Blocks = (n + job.BlockRows - 1) / job.BlockRows;

        // Too few W blocks to keep every thread busy (and balanced under dynamic scheduling):
        // also split the x rows. Each chunk re-widens its W block, cheap next to its m·n·k work.
        int mTiles = (m + MR - 1) / MR;
        int chunks = threads > 1 && job.Blocks < 4 * threads ? Math.Min(mTiles, (4 * threads + job.Blocks - 1) / job.Blocks) : 1;
        job.MChunk = (mTiles + chunks - 1) / chunks * MR;
        job.MChunks = (m + job.MChunk - 1) / job.MChunk;

        int tasks = job.Blocks * job.MChunks;
        if (threads <= 1)
        {
            for (int t = 0; t < tasks; t++) RunTask(&job, t);
        }
        else
        {
            KernelThreadPool.Run(&RunTask, &job, tasks);
        }
    }

    private static void RunTask(void* state, int index)
    {
        ref Job job = ref *(Job*)state;
        int block = index / job.MChunks, chunk = index % job.MChunks;
        int j0 = block * job.BlockRows, rows = Math.Min(job.BlockRows, job.N - j0);
        int i0 = chunk * job.MChunk, mRows = Math.Min(job.MChunk, job.M - i0);

        float* wb;
        int ldw;
        var wType = DType.F32;
        if (job.WInPlace)
        {
            wType = job.WType;
            wb = (float*)((byte*)job.W + (long)j0 * job.K * wType.SizeInBytes());
            ldw = job.K;
        }
        else
        {
            wb = ThreadScratch.Get(ScratchPackedW, (long)rows * job.Kp);
            WeightWidening.WidenRows(job.W, job.WType, j0, rows, job.K, wb, job.Kp, job.Isa);
            ldw = job.Kp;
        }

        // In-place W (small m) streams from DRAM: tiles prefetch the rows PrefetchTiles tiles ahead.
        long prefetch = job.WInPlace ? (long)Tuning.PrefetchTiles * NR * job.K * wType.SizeInBytes() : 0;
        float* xb = job.X + (long)i0 * job.Ldx;
        // Tiles write into a contiguous (mRows, rows) block first, copied out once at the end. Writing
        // y directly would revisit mRows rows n floats apart for every tile and k-slice; with n a
        // multiple of 4096 floats (lm_head: 49152) those rows all fall into one L1 and one L2 set
        // and evict each other — measured 2× slower on lm_head at M ≥ 128.
        float* local = ThreadScratch.Get(ScratchLocalY, (long)mRows * rows);
        // Equal slices no wider than KC: an uneven split (576 = 512 + 64) would spend a whole
        // reduction and y pass on a sliver of work.
        int slices = (job.Kp + Tuning.KC - 1) / Tuning.KC;
        int kcStep = ((job.Kp + slices - 1) / slices + KAlign - 1) / KAlign * KAlign;
        for (int kc = 0; kc < job.Kp; kc += kcStep)
        {
            int kLen = Math.Min(kcStep, job.Kp - kc);
            bool accumulate = kc > 0;
            for (int jj = 0; jj < rows; jj += NR)
            {
                int nr = Math.Min(NR, rows - jj);
                for (int ii = 0; ii < mRows; ii += MR)
                {
                    int mr = Math.Min(MR, mRows - ii);
                    float* xt = xb + (long)ii * job.Ldx + kc, yt = local + ii * rows + jj;
                    switch (wType)
                    {
                        case DType.BF16:
                            GemmTileKernels.TileV512<GemmTileKernels.Bf16Load>(xt, job.Ldx, mr, (ushort*)wb + (long)jj * ldw + kc, ldw, nr, kLen, yt, rows, accumulate, prefetch);
                            break;
                        case DType.F16:
                            GemmTileKernels.TileV512<GemmTileKernels.F16Load>(xt, job.Ldx, mr, (ushort*)wb + (long)jj * ldw + kc, ldw, nr, kLen, yt, rows, accumulate, prefetch);
                            break;
                        default:
                            GemmTileKernels.Tile(job.Isa, xt, job.Ldx, mr, wb + (long)jj * ldw + kc, ldw, nr, kLen, yt, rows, accumulate, prefetch);
                            break;
                    }
                }
            }
        }
        for (int i = 0; i < mRows; i++)
        {
            var src = new ReadOnlySpan<float>(local + i * rows, rows);
            var dst = new Span<float>(job.Y + (long)(i0 + i) * job.N + j0, rows);
            if (job.Accumulate) TensorPrimitives.Add(dst, src, dst);
            else src.CopyTo(dst);
        }
    }

    /// <summary>
    /// y0 = x·W0ᵀ and y1 = x·W1ᵀ for two weights that share their input (gate/up). Same result as two
    /// calls; for batch-1 BF16 decode both matrices are one job over the pool (one launch and one
    /// barrier instead of two: at batch 1 a launch costs about as much as streaming a small matrix).
    /// </summary>
    public static void MatMulTransposed(ReadOnlySpan<float> x, int m, WeightMatrix w0, Span<float> y0, WeightMatrix w1, Span<float> y1) =>
        MatMulTransposedShared(x, m, w0, y0, w1, y1, null, default);

    /// <summary>The three-weight form of <see cref="MatMulTransposed(ReadOnlySpan{float}, int, WeightMatrix, Span{float}, WeightMatrix, Span{float})"/> (q/k/v).</summary>
    public static void MatMulTransposed(ReadOnlySpan<float> x, int m, WeightMatrix w0, Span<float> y0, WeightMatrix w1, Span<float> y1, WeightMatrix w2, Span<float> y2)
    {
        ArgumentNullException.ThrowIfNull(w2);
        MatMulTransposedShared(x, m, w0, y0, w1, y1, w2, y2);
    }

    private static void MatMulTransposedShared(ReadOnlySpan<float> x, int m, WeightMatrix w0, Span<float> y0, WeightMatrix w1, Span<float> y1, WeightMatrix? w2, Span<float> y2)
    {
        ArgumentNullException.ThrowIfNull(w0);
        ArgumentNullException.ThrowIfNull(w1);
        int k = w0.Cols;
        bool fused = m == 1 && Tuning.Gemv != 0 && KernelIsa.Current >= IsaLevel.Vector256
            && w0.DType == DType.BF16 && w1.DType == DType.BF16 && w1.Cols == k
            && (w2 is null || (w2.DType == DType.BF16 && w2.Cols == k))
            && 2L * k * (w0.Rows + w1.Rows + (w2?.Rows ?? 0)) >= Tuning.GemvMinBytes;
        if (!fused)
        {
            MatMulTransposed(x, m, w0, y0);
            MatMulTransposed(x, m, w1, y1);
            if (w2 is not null) MatMulTransposed(x, m, w2, y2);
            return;
        }
        if (x.Length < k) ThrowTooShort(nameof(x), x.Length, m, k, w0.Name);
        if (y0.Length < w0.Rows) ThrowTooShort(nameof(y0), y0.Length, m, w0.Rows, w0.Name);
        if (y1.Length < w1.Rows) ThrowTooShort(nameof(y1), y1.Length, m, w1.Rows, w1.Name);
        if (w2 is not null && y2.Length < w2.Rows) ThrowTooShort(nameof(y2), y2.Length, m, w2.Rows, w2.Name);
        fixed (float* xp = x)
        fixed (float* y0p = y0)
        fixed (float* y1p = y1)
        fixed (float* y2p = y2)
        {
            var segments = new GemvSegments
            {
                W0 = (ushort*)w0.Data, Y0 = y0p, N0 = w0.Rows,
                W1 = (ushort*)w1.Data, Y1 = y1p, N1 = w1.Rows,
                W2 = w2 is null ? null : (ushort*)w2.Data, Y2 = y2p, N2 = w2?.Rows ?? 0,
            };
            Gemv(xp, k, segments, accumulate: false);
        }
    }

    /// <summary>Up to three weights (same k) multiplied by the same x in one job; unused ones have N = 0.</summary>
    private struct GemvSegments
    {
        public ushort* W0, W1, W2;
        public float* Y0, Y1, Y2;
        public int N0, N1, N2;
    }

    private struct GemvJob
    {
        public GemvSegments S;
        public float* X, XEven, XOdd;
        public int K, PrefetchBytes;
        public bool Accumulate;
        public IsaLevel Isa;
        /// <summary>Per part, one cache line whose first long packs (back granule &lt;&lt; 32) | front granule.</summary>
        public long* Parts;
        public int PartCount, GranuleRows, Rows;
    }

    private const int ScratchGemvParts = 1;

    /// <summary>One 64-byte line per part: only its owner and the thieves touch it.</summary>
    private const int PartStrideLongs = 8;

    private static void Gemv(float* x, int k, ushort* w, int n, float* y, bool accumulate) =>
        Gemv(x, k, new GemvSegments { W0 = w, Y0 = y, N0 = n }, accumulate);

    /// <summary>
    /// Batch-1 BF16 product (see <see cref="GemvKernels"/>); x is split into even/odd halves once for
    /// all segments. The segments' rows, laid end to end, are cut into granules of
    /// <see cref="Tuning.GemvGranuleBytes"/> and into one contiguous part per thread. Each thread
    /// streams its own part front to back — one long sequential stream, as the hardware prefetchers
    /// like — and then takes granules from the backs of the other parts until none is left. So the
    /// threads finish within about one granule of each other even when one joined late or lost its
    /// core for a while; the guided task list this replaced (up to 1 MB tasks shrinking to an
    /// eighth) left the caller waiting 0.57 ms per step at its barriers and measured 5–7 % slower
    /// per decode step (docs/kernels.md). Each row is computed by one call, so results do not
    /// depend on the thread count or on who took which granule.
    /// </summary>
    private static void Gemv(float* x, int k, GemvSegments segments, bool accumulate)
    {
        int half = k / 2;
        float* split = ThreadScratch.Get(ScratchPaddedX, 2L * half + 32);
        var job = new GemvJob
        {
            S = segments, X = x, XEven = split, XOdd = split + half + 16, K = k,
            PrefetchBytes = Tuning.GemvPrefetchBytes, Accumulate = accumulate, Isa = KernelIsa.Current,
        };
        EvenOdd.Split(x, k, job.XEven, job.XOdd, job.Isa);
        int n = segments.N0 + segments.N1 + segments.N2;
        int threads = (long)n * k < ParallelThresholdMacs ? 1 : KernelThreadPool.AvailableThreads;
        long rowBytes = (long)k * sizeof(ushort);
        job.Rows = n;
        job.GranuleRows = (int)Math.Clamp(Tuning.GemvGranuleBytes / rowBytes, 1, n);
        int granules = (n + job.GranuleRows - 1) / job.GranuleRows;
        int parts = Math.Min(threads, granules);
        job.PartCount = parts;
        job.Parts = (long*)ThreadScratch.Get(ScratchGemvParts, (long)parts * PartStrideLongs * sizeof(long) / sizeof(float));
        for (int p = 0; p < parts; p++)
        {
            long front = (long)granules * p / parts, back = (long)granules * (p + 1) / parts;
            job.Parts[p * PartStrideLongs] = (back << 32) | front;
        }
        if (parts <= 1) RunGemvPart(&job, 0);
        else KernelThreadPool.Run(&RunGemvPart, &job, parts);
    }

    private static void RunGemvPart(void* state, int part)
    {
        var job = (GemvJob*)state;
        int granule;
        while ((granule = TakeGranule(job->Parts + part * PartStrideLongs, fromFront: true)) >= 0) RunGranule(job, granule);
        for (int i = 1; i < job->PartCount; i++)
        {
            long* other = job->Parts + (part + i) % job->PartCount * PartStrideLongs;
            while ((granule = TakeGranule(other, fromFront: false)) >= 0) RunGranule(job, granule);
        }
    }

    /// <summary>Claims the front (owner) or back (thief) granule of a part; −1 when the part is used up.</summary>
    private static int TakeGranule(long* part, bool fromFront)
    {
        while (true)
        {
            long current = Volatile.Read(ref *part);
            int front = (int)current, back = (int)(current >> 32);
            if (front >= back) return -1;
            long next = fromFront ? ((long)back << 32) | (uint)(front + 1) : ((long)(back - 1) << 32) | (uint)front;
            if (Interlocked.CompareExchange(ref *part, next, current) == current) return fromFront ? front : back - 1;
        }
    }

    /// <summary>Rows [granule·GranuleRows, …) of the segments laid end to end; a granule may straddle two segments.</summary>
    private static void RunGranule(GemvJob* job, int granule)
    {
        int first = granule * job->GranuleRows, end = Math.Min(job->Rows, first + job->GranuleRows);
        ref var s = ref job->S;
        while (first < end)
        {
            ushort* w;
            float* y;
            int local, segmentEnd;
            if (first < s.N0) { w = s.W0; y = s.Y0; local = first; segmentEnd = s.N0; }
            else if (first < s.N0 + s.N1) { w = s.W1; y = s.Y1; local = first - s.N0; segmentEnd = s.N0 + s.N1; }
            else { w = s.W2; y = s.Y2; local = first - s.N0 - s.N1; segmentEnd = job->Rows; }
            int count = Math.Min(end, segmentEnd) - first;
            GemvKernels.RowsBf16(job->Isa, job->X, job->XEven, job->XOdd, job->K, w, local, count, y, job->Accumulate, job->PrefetchBytes);
            first += count;
        }
    }

    [DoesNotReturn]
    private static void ThrowNegative(string name, int value) =>
        throw new ArgumentOutOfRangeException(name, value, "dimension must be non-negative");

    [DoesNotReturn]
    private static void ThrowTooShort(string name, int length, int rows, int cols, string weight) =>
        throw new ArgumentException($"{name} has {length} elements, needs {rows}x{cols}{(weight.Length > 0 ? $" for weight '{weight}'" : "")}", name);
}
