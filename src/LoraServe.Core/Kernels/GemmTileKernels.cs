using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LoraServe.Core.Kernels;

/// <summary>
/// The register-blocked inner kernels of <see cref="Gemm"/>: one tile y(mr×nr) (+)= x(mr×kLen)·w(nr×kLen)ᵀ,
/// both operands row-major with k contiguous, x f32, w f32 (any ISA) or BF16/F16 widened in the tile
/// (Vector512, via <see cref="IWeightLoad"/>); kLen a multiple of <see cref="Gemm.KAlign"/> (the
/// driver zero-pads k), mr ≤ <see cref="Gemm.MR"/>, nr ≤ <see cref="Gemm.NR"/>.
///
/// Why the dot-product form (vectors run along k, one accumulator per output element) rather than
/// BLIS's broadcast form (vectors along n): W is stored (n, k) with k contiguous, so rows of x and
/// rows of W are both read straight, and packing a 16-bit W is a plain widening copy instead of a
/// transpose. The price is a horizontal reduction per output element per k-block, amortised over
/// kLen/16 FMAs (≥ 36 for every SmolLM2 matrix).
///
/// 4×6 tile on Vector512: 24 accumulators + 4 x vectors + 1 w vector = 29 of the 32 zmm registers;
/// per 16 k: 10 loads feed 24 FMAs, so two load ports keep both FMA pipes busy, and 24 independent
/// chains hide the 4-cycle FMA latency (needs ≥ 8).
/// </summary>
internal static unsafe class GemmTileKernels
{
    /// <summary>
    /// Loads 16 consecutive weights of one row as f32. Struct implementations are generic type
    /// arguments, so the JIT compiles one specialised tile kernel per dtype with the widening inlined
    /// (the decode path reads 16-bit weights straight from memory, no scratch round trip).
    /// <see cref="PagedAttention"/> loads F32 and BF16 KV cache rows through the same structs.
    /// </summary>
    public interface IWeightLoad
    {
        static abstract Vector512<float> Load(byte* row, int p);

        static abstract int ElementBytes { get; }
    }

    public readonly struct F32Load : IWeightLoad
    {
        public static int ElementBytes => 4;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load(byte* row, int p) => Vector512.Load((float*)row + p);
    }

    public readonly struct Bf16Load : IWeightLoad
    {
        public static int ElementBytes => 2;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load(byte* row, int p) =>
            Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512UInt32(Vector256.Load((ushort*)row + p)), 16).AsSingle();
    }

    public readonly struct F16Load : IWeightLoad
    {
        public static int ElementBytes => 2;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load(byte* row, int p) =>
            WeightWidening.HalfToSingle(Avx512F.ConvertToVector512UInt32(Vector256.Load((ushort*)row + p)));
    }

    /// <summary>
    /// Vector512 tile reading W in its stored dtype (row stride ldw elements). The driver only sends
    /// 16-bit weights here when k is a multiple of 16, so no load crosses a row end.
    /// </summary>
    /// <param name="prefetch">Byte offset from each W row to prefetch as the k loop advances (0 = none).</param>
    public static void TileV512<TLoad>(float* x, int ldx, int mr, void* w, int ldw, int nr, int kLen, float* y, int ldy, bool accumulate, long prefetch)
        where TLoad : struct, IWeightLoad
    {
        byte* wb = (byte*)w;
        long stride = (long)ldw * TLoad.ElementBytes;
        if (nr == Gemm.NR)
        {
            int i = 0;
            for (; i + 4 <= mr; i += 4) Tile4x6V512<TLoad>(x + i * ldx, ldx, wb, stride, kLen, y + i * ldy, ldy, accumulate, prefetch);
            for (; i < mr; i++) Tile1x6V512<TLoad>(x + i * ldx, wb, stride, kLen, y + i * ldy, accumulate, prefetch);
        }
        else
        {
            for (int i = 0; i < mr; i++)
                for (int j = 0; j < nr; j++) Store(y + i * ldy + j, DotV512<TLoad>(x + i * ldx, wb + j * stride, kLen), accumulate);
        }
    }

    public static void Tile(IsaLevel isa, float* x, int ldx, int mr, float* w, int ldw, int nr, int kLen, float* y, int ldy, bool accumulate, long prefetch = 0)
    {
        switch (isa)
        {
            case IsaLevel.Vector512:
                TileV512<F32Load>(x, ldx, mr, w, ldw, nr, kLen, y, ldy, accumulate, prefetch);
                break;
            case IsaLevel.Vector256:
                if (nr == Gemm.NR)
                {
                    for (int i = 0; i < mr; i++) Tile1x6V256(x + i * ldx, w, ldw, kLen, y + i * ldy, accumulate);
                }
                else
                {
                    for (int i = 0; i < mr; i++)
                        for (int j = 0; j < nr; j++) Store(y + i * ldy + j, DotV256(x + i * ldx, w + j * ldw, kLen), accumulate);
                }
                break;
            default:
                for (int i = 0; i < mr; i++)
                    for (int j = 0; j < nr; j++) Store(y + i * ldy + j, DotScalar(x + i * ldx, w + j * ldw, kLen), accumulate);
                break;
        }
    }

    /// <summary>Prefetches byte <paramref name="offset"/> of six rows (only when it starts a cache line: 16-bit rows advance 32 B a step).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Prefetch6(byte* row0, long ldw, int offset)
    {
        if ((offset & 63) != 0) return;
        byte* p = row0 + offset;
        Sse.Prefetch0(p);
        Sse.Prefetch0(p + ldw);
        Sse.Prefetch0(p + 2 * ldw);
        Sse.Prefetch0(p + 3 * ldw);
        Sse.Prefetch0(p + 4 * ldw);
        Sse.Prefetch0(p + 5 * ldw);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* y, float value, bool accumulate)
    {
        if (accumulate) *y += value; else *y = value;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store4(float* y, Vector128<float> value, bool accumulate)
    {
        if (accumulate) value += Vector128.Load(y);
        value.Store(y);
    }

    /// <summary>Sums of a, b, c, d as one Vector128 [Σa, Σb, Σc, Σd]: 4 extract+add, then three haddps.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Reduce4(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d)
        => Reduce4(a.GetLower() + a.GetUpper(), b.GetLower() + b.GetUpper(), c.GetLower() + c.GetUpper(), d.GetLower() + d.GetUpper());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Reduce4(Vector256<float> a, Vector256<float> b, Vector256<float> c, Vector256<float> d)
    {
        // hadd per 128-bit lane: [a01 a23 b01 b23 | a45 a67 b45 b67]; twice more gives [Σa⁰³ Σb⁰³ Σc⁰³ Σd⁰³ | Σa⁴⁷ …].
        var abcd = Avx.HorizontalAdd(Avx.HorizontalAdd(a, b), Avx.HorizontalAdd(c, d));
        return abcd.GetLower() + abcd.GetUpper();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Sum(Vector512<float> v) => Vector256.Sum(v.GetLower() + v.GetUpper());

    private static void Tile4x6V512<TLoad>(float* x, int ldx, byte* w, long ldw, int kLen, float* y, int ldy, bool accumulate, long prefetch)
        where TLoad : struct, IWeightLoad
    {
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default, c04 = default, c05 = default;
        Vector512<float> c10 = default, c11 = default, c12 = default, c13 = default, c14 = default, c15 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default, c24 = default, c25 = default;
        Vector512<float> c30 = default, c31 = default, c32 = default, c33 = default, c34 = default, c35 = default;
        float* x0 = x, x1 = x + ldx, x2 = x + 2 * ldx, x3 = x + 3 * ldx;
        byte* w0 = w, w1 = w + ldw, w2 = w + 2 * ldw, w3 = w + 3 * ldw, w4 = w + 4 * ldw, w5 = w + 5 * ldw;
        for (int p = 0; p < kLen; p += 16)
        {
            if (prefetch != 0) Prefetch6(w0 + prefetch, ldw, p * TLoad.ElementBytes);
            var a0 = Vector512.Load(x0 + p);
            var a1 = Vector512.Load(x1 + p);
            var a2 = Vector512.Load(x2 + p);
            var a3 = Vector512.Load(x3 + p);
            var b = TLoad.Load(w0, p);
            c00 = Vector512.FusedMultiplyAdd(a0, b, c00); c10 = Vector512.FusedMultiplyAdd(a1, b, c10);
            c20 = Vector512.FusedMultiplyAdd(a2, b, c20); c30 = Vector512.FusedMultiplyAdd(a3, b, c30);
            b = TLoad.Load(w1, p);
            c01 = Vector512.FusedMultiplyAdd(a0, b, c01); c11 = Vector512.FusedMultiplyAdd(a1, b, c11);
            c21 = Vector512.FusedMultiplyAdd(a2, b, c21); c31 = Vector512.FusedMultiplyAdd(a3, b, c31);
            b = TLoad.Load(w2, p);
            c02 = Vector512.FusedMultiplyAdd(a0, b, c02); c12 = Vector512.FusedMultiplyAdd(a1, b, c12);
            c22 = Vector512.FusedMultiplyAdd(a2, b, c22); c32 = Vector512.FusedMultiplyAdd(a3, b, c32);
            b = TLoad.Load(w3, p);
            c03 = Vector512.FusedMultiplyAdd(a0, b, c03); c13 = Vector512.FusedMultiplyAdd(a1, b, c13);
            c23 = Vector512.FusedMultiplyAdd(a2, b, c23); c33 = Vector512.FusedMultiplyAdd(a3, b, c33);
            b = TLoad.Load(w4, p);
            c04 = Vector512.FusedMultiplyAdd(a0, b, c04); c14 = Vector512.FusedMultiplyAdd(a1, b, c14);
            c24 = Vector512.FusedMultiplyAdd(a2, b, c24); c34 = Vector512.FusedMultiplyAdd(a3, b, c34);
            b = TLoad.Load(w5, p);
            c05 = Vector512.FusedMultiplyAdd(a0, b, c05); c15 = Vector512.FusedMultiplyAdd(a1, b, c15);
            c25 = Vector512.FusedMultiplyAdd(a2, b, c25); c35 = Vector512.FusedMultiplyAdd(a3, b, c35);
        }
        StoreRow6(y, c00, c01, c02, c03, c04, c05, accumulate);
        StoreRow6(y + ldy, c10, c11, c12, c13, c14, c15, accumulate);
        StoreRow6(y + 2 * ldy, c20, c21, c22, c23, c24, c25, accumulate);
        StoreRow6(y + 3 * ldy, c30, c31, c32, c33, c34, c35, accumulate);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow6(float* y, Vector512<float> c0, Vector512<float> c1, Vector512<float> c2, Vector512<float> c3,
        Vector512<float> c4, Vector512<float> c5, bool accumulate)
    {
        Store4(y, Reduce4(c0, c1, c2, c3), accumulate);
        var s45 = c4.GetLower() + c4.GetUpper();
        var s55 = c5.GetLower() + c5.GetUpper();
        var pair = Reduce4(s45, s55, s45, s55);
        Store(y + 4, pair.ToScalar(), accumulate);
        Store(y + 5, pair.GetElement(1), accumulate);
    }

    /// <summary>One x row against six W rows: the decode (m = 1) path, where W streams from memory once.</summary>
    private static void Tile1x6V512<TLoad>(float* x, byte* w, long ldw, int kLen, float* y, bool accumulate, long prefetch)
        where TLoad : struct, IWeightLoad
    {
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
        byte* w0 = w, w1 = w + ldw, w2 = w + 2 * ldw, w3 = w + 3 * ldw, w4 = w + 4 * ldw, w5 = w + 5 * ldw;
        for (int p = 0; p < kLen; p += 16)
        {
            if (prefetch != 0) Prefetch6(w0 + prefetch, ldw, p * TLoad.ElementBytes);
            var a = Vector512.Load(x + p);
            c0 = Vector512.FusedMultiplyAdd(a, TLoad.Load(w0, p), c0);
            c1 = Vector512.FusedMultiplyAdd(a, TLoad.Load(w1, p), c1);
            c2 = Vector512.FusedMultiplyAdd(a, TLoad.Load(w2, p), c2);
            c3 = Vector512.FusedMultiplyAdd(a, TLoad.Load(w3, p), c3);
            c4 = Vector512.FusedMultiplyAdd(a, TLoad.Load(w4, p), c4);
            c5 = Vector512.FusedMultiplyAdd(a, TLoad.Load(w5, p), c5);
        }
        StoreRow6(y, c0, c1, c2, c3, c4, c5, accumulate);
    }

    private static float DotV512<TLoad>(float* x, byte* w, int kLen)
        where TLoad : struct, IWeightLoad
    {
        Vector512<float> c0 = default, c1 = default;
        int p = 0;
        for (; p + 32 <= kLen; p += 32)
        {
            c0 = Vector512.FusedMultiplyAdd(Vector512.Load(x + p), TLoad.Load(w, p), c0);
            c1 = Vector512.FusedMultiplyAdd(Vector512.Load(x + p + 16), TLoad.Load(w, p + 16), c1);
        }
        if (p < kLen) c0 = Vector512.FusedMultiplyAdd(Vector512.Load(x + p), TLoad.Load(w, p), c0);
        return Sum(c0 + c1);
    }

    private static void Tile1x6V256(float* x, float* w, int ldw, int kLen, float* y, bool accumulate)
    {
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
        float* w0 = w, w1 = w + ldw, w2 = w + 2 * ldw, w3 = w + 3 * ldw, w4 = w + 4 * ldw, w5 = w + 5 * ldw;
        for (int p = 0; p < kLen; p += 8)
        {
            var a = Vector256.Load(x + p);
            c0 = Vector256.FusedMultiplyAdd(a, Vector256.Load(w0 + p), c0);
            c1 = Vector256.FusedMultiplyAdd(a, Vector256.Load(w1 + p), c1);
            c2 = Vector256.FusedMultiplyAdd(a, Vector256.Load(w2 + p), c2);
            c3 = Vector256.FusedMultiplyAdd(a, Vector256.Load(w3 + p), c3);
            c4 = Vector256.FusedMultiplyAdd(a, Vector256.Load(w4 + p), c4);
            c5 = Vector256.FusedMultiplyAdd(a, Vector256.Load(w5 + p), c5);
        }
        Store4(y, Reduce4(c0, c1, c2, c3), accumulate);
        var pair = Reduce4(c4, c5, c4, c5);
        Store(y + 4, pair.ToScalar(), accumulate);
        Store(y + 5, pair.GetElement(1), accumulate);
    }

    private static float DotV256(float* x, float* w, int kLen)
    {
        Vector256<float> c0 = default, c1 = default;
        for (int p = 0; p < kLen; p += 16)
        {
            c0 = Vector256.FusedMultiplyAdd(Vector256.Load(x + p), Vector256.Load(w + p), c0);
            c1 = Vector256.FusedMultiplyAdd(Vector256.Load(x + p + 8), Vector256.Load(w + p + 8), c1);
        }
        return Vector256.Sum(c0 + c1);
    }

    private static float DotScalar(float* x, float* w, int kLen)
    {
        // Four partial sums: the same association the SIMD paths roughly have, and 4× the ILP.
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (int p = 0; p < kLen; p += 4)
        {
            s0 += x[p] * w[p];
            s1 += x[p + 1] * w[p + 1];
            s2 += x[p + 2] * w[p + 2];
            s3 += x[p + 3] * w[p + 3];
        }
        return (s0 + s1) + (s2 + s3);
    }
}
