using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LoraServe.Core.Tensors;

namespace LoraServe.Core.Kernels;

/// <summary>
/// Widens rows of a stored weight (F32, F16, BF16) to float32 in a scratch block, zero-padding each
/// row from k to the scratch stride. This is the GEMM's packing step: 16-bit weights stay 16-bit in
/// memory (half the bytes streamed) and are widened a few rows at a time into L1/L2.
///
/// BF16 is the top half of an f32, so widening is zero-extend then shift left 16 (exact).
/// F16: .NET 10 does not expose vcvtph2ps, so the SIMD path uses the classic exact bit trick:
/// put exponent+mantissa at f32 position (<< 13) and multiply by 2^112 (re-biases the exponent
/// 15 → 127; f16 subnormals become f32 subnormals that the multiply normalises exactly), then
/// force exponent 255 for f16 Inf/NaN (exponent 31) and OR the sign back.
/// </summary>
internal static unsafe class WeightWidening
{
    /// <param name="source">Address of element (0, 0) of the weight.</param>
    /// <param name="firstRow">First row to widen.</param>
    /// <param name="rows">Rows to widen.</param>
    /// <param name="k">Elements per stored row (also the source row stride).</param>
    /// <param name="destination">rows × ldd floats; columns k … ldd−1 are zeroed.</param>
    public static void WidenRows(void* source, DType dtype, int firstRow, int rows, int k, float* destination, int ldd, IsaLevel isa)
    {
        for (int r = 0; r < rows; r++)
        {
            long start = (long)(firstRow + r) * k;
            float* dst = destination + (long)r * ldd;
            switch (dtype)
            {
                case DType.F32:
                    Buffer.MemoryCopy((float*)source + start, dst, (long)k * sizeof(float), (long)k * sizeof(float));
                    break;
                case DType.BF16:
                    WidenBf16((ushort*)source + start, dst, k, isa);
                    break;
                case DType.F16:
                    WidenF16((ushort*)source + start, dst, k, isa);
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unsupported weight dtype");
            }
            for (int p = k; p < ldd; p++) dst[p] = 0f;
        }
    }

    public static void WidenBf16(ushort* src, float* dst, int count, IsaLevel isa)
    {
        int i = 0;
        if (isa == IsaLevel.Vector512)
        {
            for (; i + 16 <= count; i += 16)
                Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512UInt32(Vector256.Load(src + i)), 16).AsSingle().Store(dst + i);
        }
        else if (isa == IsaLevel.Vector256)
        {
            for (; i + 8 <= count; i += 8)
                Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(Vector128.Load(src + i)), 16).AsSingle().Store(dst + i);
        }
        for (; i < count; i++) dst[i] = BFloat16.ToSingle(src[i]);
    }

    public static void WidenF16(ushort* src, float* dst, int count, IsaLevel isa)
    {
        int i = 0;
        if (isa == IsaLevel.Vector512)
        {
            for (; i + 16 <= count; i += 16)
                HalfToSingle(Avx512F.ConvertToVector512UInt32(Vector256.Load(src + i))).Store(dst + i);
        }
        else if (isa == IsaLevel.Vector256)
        {
            for (; i + 8 <= count; i += 8)
                HalfToSingle(Avx2.ConvertToVector256Int32(Vector128.Load(src + i)).AsUInt32()).Store(dst + i);
        }
        for (; i < count; i++) dst[i] = (float)BitConverter.UInt16BitsToHalf(src[i]);
    }

    private const uint F16ExpMantMask = 0x7FFF, F16SignMask = 0x8000, F16Inf = 0x7C00, F32ExpMask = 0x7F800000;
    private const float TwoPow112 = 5.192296858534828e33f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> HalfToSingle(Vector512<uint> h)
    {
        var em = h & Vector512.Create(F16ExpMantMask);
        var shifted = em << 13;
        var finite = shifted.AsSingle() * Vector512.Create(TwoPow112);
        var special = (shifted | Vector512.Create(F32ExpMask)).AsSingle();
        var isSpecial = Vector512.GreaterThanOrEqual(em, Vector512.Create(F16Inf)).AsSingle();
        var magnitude = Vector512.ConditionalSelect(isSpecial, special, finite);
        return (magnitude.AsUInt32() | ((h & Vector512.Create(F16SignMask)) << 16)).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> HalfToSingle(Vector256<uint> h)
    {
        var em = h & Vector256.Create(F16ExpMantMask);
        var shifted = em << 13;
        var finite = shifted.AsSingle() * Vector256.Create(TwoPow112);
        var special = (shifted | Vector256.Create(F32ExpMask)).AsSingle();
        var isSpecial = Vector256.GreaterThanOrEqual(em, Vector256.Create(F16Inf)).AsSingle();
        var magnitude = Vector256.ConditionalSelect(isSpecial, special, finite);
        return (magnitude.AsUInt32() | ((h & Vector256.Create(F16SignMask)) << 16)).AsSingle();
    }
}
