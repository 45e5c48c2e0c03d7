using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LoraServe.Core.Kernels;

/// <summary>
/// The even/odd layout the BF16 kernels compute in: 32 consecutive elements as two vectors, the 16
/// even-indexed and the 16 odd-indexed ones. A 64-byte load of 32 bf16 is already in this layout as
/// uint32 lanes (element 2i in lane i's low half, 2i+1 in its high half), so a bf16 row is widened by
/// one shift and one and instead of a cross-lane <c>vpmovzxwd</c> per 16 elements. The float operand
/// it meets (x of the batch-1 GEMV, q and the accumulators of decode attention) is permuted into the
/// same layout once and back afterwards.
/// </summary>
internal static unsafe class EvenOdd
{
    private static readonly Vector512<int> EvenLanes = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    private static readonly Vector512<int> OddLanes = Vector512.Create(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    private static readonly Vector512<int> InterleaveLow = Vector512.Create(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    private static readonly Vector512<int> InterleaveHigh = Vector512.Create(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);

    /// <summary>The 32 floats at <paramref name="p"/> as their even- and odd-indexed halves.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Split(float* p, out Vector512<float> even, out Vector512<float> odd)
    {
        var a = Vector512.Load(p);
        var b = Vector512.Load(p + 16);
        even = Avx512F.PermuteVar16x32x2(a, EvenLanes, b);
        odd = Avx512F.PermuteVar16x32x2(a, OddLanes, b);
    }

    /// <summary>The 32 bf16 at <paramref name="p"/> as float32 even- and odd-indexed halves (exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SplitBf16(ushort* p, out Vector512<float> even, out Vector512<float> odd)
    {
        var v = Vector512.Load((uint*)p);
        even = (v << 16).AsSingle();
        odd = (v & Vector512.Create(0xFFFF0000u)).AsSingle();
    }

    /// <summary>xEven[i] = x[2i], xOdd[i] = x[2i + 1] for i &lt; k / 2 (Vector512 where <paramref name="isa"/> allows, scalar tail).</summary>
    public static void Split(float* x, int k, float* xEven, float* xOdd, IsaLevel isa)
    {
        int i = 0;
        if (isa == IsaLevel.Vector512)
        {
            for (; i + 16 <= k / 2; i += 16)
            {
                Split(x + 2 * i, out var even, out var odd);
                even.Store(xEven + i);
                odd.Store(xOdd + i);
            }
        }
        for (; i < k / 2; i++)
        {
            xEven[i] = x[2 * i];
            xOdd[i] = x[2 * i + 1];
        }
    }

    /// <summary>dst = src (n a multiple of 32, Vector512) with each 32 elements as [16 even-indexed | 16 odd-indexed].</summary>
    public static void Arrange(float* src, float* dst, int n)
    {
        for (int i = 0; i < n; i += 32) Split(src + i, 32, dst + i, dst + i + 16, IsaLevel.Vector512);
    }

    /// <summary>The inverse of <see cref="Arrange"/>, in place.</summary>
    public static void Interleave(float* a, int n)
    {
        for (int i = 0; i < n; i += 32)
        {
            var even = Vector512.Load(a + i);
            var odd = Vector512.Load(a + i + 16);
            Avx512F.PermuteVar16x32x2(even, InterleaveLow, odd).Store(a + i);
            Avx512F.PermuteVar16x32x2(even, InterleaveHigh, odd).Store(a + i + 16);
        }
    }
}
