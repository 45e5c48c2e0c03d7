using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LoraServe.Core.Tensors;

namespace LoraServe.Core.Kernels;

/// <summary>
/// Batch-1 decode products y (+)= x·Wᵀ with BF16 weights read in place: the memory-bound case, where
/// the only goal is to stream W at the machine's read bandwidth. Hand-written because no .NET library
/// multiplies by bfloat16 weights without widening them into a float copy first (which would read and
/// write the matrix twice).
///
/// <list type="bullet">
/// <item>Even/odd split instead of widening: a 64-byte load holds 32 bf16 = 16 uint32 lanes; lane i
///   holds element 2i in its low half and 2i+1 in its high half, so <c>v &lt;&lt; 16</c> is element 2i
///   as f32 and <c>v &amp; 0xFFFF0000</c> is element 2i+1, exactly. x is split once per call into
///   x_even / x_odd, so a row's dot product costs per 64 bytes one load, one shift, one and, two FMAs —
///   no vpmovzxwd (a cross-lane shuffle) per 32 bytes as in the GEMM tile.</item>
/// <item>Rows are walked one after another, so a call reads one contiguous run of memory (its rows
///   are adjacent in W) — a single sequential stream the hardware prefetchers follow. The 4×6 and
///   1×6 GEMM tiles read six rows at once: six short streams (1–3 KB each) that the prefetchers
///   barely ramp up on before they end.</item>
/// <item>Software prefetch <see cref="Gemm.Tuning.GemvPrefetchBytes"/> ahead of the read pointer, one
///   per 64 bytes consumed, plus one burst over a call's first bytes: hardware prefetchers stop at
///   4 KB page boundaries (`--weights mapped` reads 4 KB file pages), software prefetches do not.
///   The prefetches are non-temporal (prefetchnta): each weight is read once per step, so its lines
///   should not displace what the step reads again (the K/V cache, activations) from the L2 and L3.
///   Decode steps run back to back took 5.31 against 5.7 ms (medians of six alternated runs, step ÷
///   bound 1.21 against 1.34); a step right after a 1 GiB read that flushed the caches is the same
///   either way (docs/kernels.md).</item>
/// <item>Eight independent accumulators per row (four 64-byte loads per iteration × even/odd; the
///   Vector256 path four), one horizontal sum per row; each output element is summed in a fixed
///   order whatever the thread count.</item>
/// </list>
/// </summary>
internal static unsafe class GemvKernels
{
    /// <summary>
    /// Rows [first, first + rows) of W (BF16, row length k, rows contiguous) against x: xEven[i] = x[2i],
    /// xOdd[i] = x[2i + 1] for i &lt; k / 2 (x itself for the scalar tail), y[r] (+)= dot.
    /// </summary>
    public static void RowsBf16(IsaLevel isa, float* x, float* xEven, float* xOdd, int k, ushort* w, int first, int rows,
        float* y, bool accumulate, int prefetchBytes)
    {
        if (isa == IsaLevel.Vector512) RowsBf16V512(x, xEven, xOdd, k, w, first, rows, y, accumulate, prefetchBytes);
        else RowsBf16V256(x, xEven, xOdd, k, w, first, rows, y, accumulate, prefetchBytes);
    }

    private static void RowsBf16V512(float* x, float* xEven, float* xOdd, int k, ushort* w, int first, int rows,
        float* y, bool accumulate, int prefetchBytes)
    {
        // The loop walks pointers (no 32-bit index arithmetic, no branch on prefetchBytes inside the
        // loop: a zero distance prefetches the line being read, a no-op). Measured against the indexed
        // form it replaced (same arithmetic, same results bit for bit): 1.33–1.35× vs 1.49× the
        // bandwidth bound on lm_head from the file mapping, 1.26× vs 1.42× from huge pages (docs/kernels.md).
        nint chunks = k / 32;
        nint quads = chunks / 4 * 4;
        int tail = (int)chunks * 32;
        nint rowBytes = (nint)k * sizeof(ushort);
        var highMask = Vector512.Create(0xFFFF0000u);
        byte* rowStart = (byte*)(w + (long)first * k);
        PrefetchStart((ushort*)rowStart, prefetchBytes);
        for (int r = 0; r < rows; r++, rowStart += rowBytes)
        {
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
            byte* p = rowStart;
            byte* quadEnd = rowStart + quads * 64;
            byte* chunkEnd = rowStart + chunks * 64;
            float* xe = xEven, xo = xOdd;
            while (p < quadEnd)
            {
                byte* pf = p + prefetchBytes;
                Sse.PrefetchNonTemporal(pf);
                Sse.PrefetchNonTemporal(pf + 64);
                Sse.PrefetchNonTemporal(pf + 128);
                Sse.PrefetchNonTemporal(pf + 192);
                var v0 = Vector512.Load((uint*)p);
                var v1 = Vector512.Load((uint*)(p + 64));
                var v2 = Vector512.Load((uint*)(p + 128));
                var v3 = Vector512.Load((uint*)(p + 192));
                a0 = Vector512.FusedMultiplyAdd((v0 << 16).AsSingle(), Vector512.Load(xe), a0);
                a1 = Vector512.FusedMultiplyAdd((v0 & highMask).AsSingle(), Vector512.Load(xo), a1);
                a2 = Vector512.FusedMultiplyAdd((v1 << 16).AsSingle(), Vector512.Load(xe + 16), a2);
                a3 = Vector512.FusedMultiplyAdd((v1 & highMask).AsSingle(), Vector512.Load(xo + 16), a3);
                a4 = Vector512.FusedMultiplyAdd((v2 << 16).AsSingle(), Vector512.Load(xe + 32), a4);
                a5 = Vector512.FusedMultiplyAdd((v2 & highMask).AsSingle(), Vector512.Load(xo + 32), a5);
                a6 = Vector512.FusedMultiplyAdd((v3 << 16).AsSingle(), Vector512.Load(xe + 48), a6);
                a7 = Vector512.FusedMultiplyAdd((v3 & highMask).AsSingle(), Vector512.Load(xo + 48), a7);
                p += 256;
                xe += 64;
                xo += 64;
            }
            while (p < chunkEnd)
            {
                Sse.PrefetchNonTemporal(p + prefetchBytes);
                var v0 = Vector512.Load((uint*)p);
                a0 = Vector512.FusedMultiplyAdd((v0 << 16).AsSingle(), Vector512.Load(xe), a0);
                a1 = Vector512.FusedMultiplyAdd((v0 & highMask).AsSingle(), Vector512.Load(xo), a1);
                p += 64;
                xe += 16;
                xo += 16;
            }
            float sum = Vector512.Sum(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)));
            ushort* row = (ushort*)rowStart;
            for (int i = tail; i < k; i++) sum += x[i] * BFloat16.ToSingle(row[i]);
            if (accumulate) y[first + r] += sum; else y[first + r] = sum;
        }
    }

    private static void RowsBf16V256(float* x, float* xEven, float* xOdd, int k, ushort* w, int first, int rows,
        float* y, bool accumulate, int prefetchBytes)
    {
        int chunks = k / 16; // 32-byte chunks of 16 bf16
        int tail = chunks * 16;
        var highMask = Vector256.Create(0xFFFF0000u);
        PrefetchStart(w + (long)first * k, prefetchBytes);
        for (int r = first; r < first + rows; r++)
        {
            ushort* row = w + (long)r * k;
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            int c = 0;
            for (; c + 2 <= chunks; c += 2)
            {
                uint* p = (uint*)(row + c * 16);
                if (prefetchBytes != 0) Sse.PrefetchNonTemporal((byte*)p + prefetchBytes);
                var v0 = Vector256.Load(p);
                var v1 = Vector256.Load(p + 8);
                a0 = Vector256.FusedMultiplyAdd((v0 << 16).AsSingle(), Vector256.Load(xEven + c * 8), a0);
                a1 = Vector256.FusedMultiplyAdd((v0 & highMask).AsSingle(), Vector256.Load(xOdd + c * 8), a1);
                a2 = Vector256.FusedMultiplyAdd((v1 << 16).AsSingle(), Vector256.Load(xEven + c * 8 + 8), a2);
                a3 = Vector256.FusedMultiplyAdd((v1 & highMask).AsSingle(), Vector256.Load(xOdd + c * 8 + 8), a3);
            }
            if (c < chunks)
            {
                uint* p = (uint*)(row + c * 16);
                var v0 = Vector256.Load(p);
                a0 = Vector256.FusedMultiplyAdd((v0 << 16).AsSingle(), Vector256.Load(xEven + c * 8), a0);
                a1 = Vector256.FusedMultiplyAdd((v0 & highMask).AsSingle(), Vector256.Load(xOdd + c * 8), a1);
            }
            float sum = Vector256.Sum((a0 + a1) + (a2 + a3));
            for (int i = tail; i < k; i++) sum += x[i] * BFloat16.ToSingle(row[i]);
            if (accumulate) y[r] += sum; else y[r] = sum;
        }
    }

    /// <summary>
    /// The loop prefetches <paramref name="prefetchBytes"/> ahead of what it reads, so a call's first
    /// <paramref name="prefetchBytes"/> would be read on demand only, one miss chain at a time: at
    /// ~150 launches per batch-1 step that start-up cost adds up. Prefetch them in one burst instead.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchStart(ushort* start, int prefetchBytes)
    {
        byte* p = (byte*)((nint)start & ~63);
        for (int off = 0; off < prefetchBytes; off += 64) Sse.PrefetchNonTemporal(p + off);
    }
}
