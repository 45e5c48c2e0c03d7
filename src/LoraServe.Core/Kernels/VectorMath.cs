using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LoraServe.Core.Kernels;

/// <summary>
/// The few vector primitives the row kernels (norm, softmax, attention, activations) share, each
/// with a Vector512, Vector256 and scalar path chosen by the caller's <see cref="IsaLevel"/>.
/// Tails run scalar, so any length works.
/// </summary>
internal static unsafe class VectorMath
{
    /// <summary>Σ a[i]·b[i].</summary>
    public static float Dot(float* a, float* b, int n, IsaLevel isa)
    {
        int i = 0;
        float sum = 0;
        if (isa == IsaLevel.Vector512 && n >= 16)
        {
            Vector512<float> s0 = default, s1 = default;
            for (; i + 32 <= n; i += 32)
            {
                s0 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i), Vector512.Load(b + i), s0);
                s1 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i + 16), Vector512.Load(b + i + 16), s1);
            }
            for (; i + 16 <= n; i += 16) s0 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i), Vector512.Load(b + i), s0);
            sum = Vector512.Sum(s0 + s1);
        }
        else if (isa >= IsaLevel.Vector256 && n >= 8)
        {
            Vector256<float> s0 = default, s1 = default;
            for (; i + 16 <= n; i += 16)
            {
                s0 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), Vector256.Load(b + i), s0);
                s1 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i + 8), Vector256.Load(b + i + 8), s1);
            }
            for (; i + 8 <= n; i += 8) s0 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), Vector256.Load(b + i), s0);
            sum = Vector256.Sum(s0 + s1);
        }
        for (; i < n; i++) sum += a[i] * b[i];
        return sum;
    }

    /// <summary>Σ a[i]².</summary>
    public static float SumOfSquares(float* a, int n, IsaLevel isa) => Dot(a, a, n, isa);

    /// <summary>max a[i] (−∞ for n = 0).</summary>
    public static float Max(float* a, int n, IsaLevel isa)
    {
        int i = 0;
        float max = float.NegativeInfinity;
        if (isa == IsaLevel.Vector512 && n >= 16)
        {
            var m = Vector512.Create(float.NegativeInfinity);
            for (; i + 16 <= n; i += 16) m = Vector512.Max(m, Vector512.Load(a + i));
            max = Vector256.Max(m.GetLower(), m.GetUpper()) is var h ? MaxOf(h) : max;
        }
        else if (isa >= IsaLevel.Vector256 && n >= 8)
        {
            var m = Vector256.Create(float.NegativeInfinity);
            for (; i + 8 <= n; i += 8) m = Vector256.Max(m, Vector256.Load(a + i));
            max = MaxOf(m);
        }
        for (; i < n; i++) if (a[i] > max) max = a[i];
        return max;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float MaxOf(Vector256<float> v)
    {
        var q = Vector128.Max(v.GetLower(), v.GetUpper());
        return MathF.Max(MathF.Max(q[0], q[1]), MathF.Max(q[2], q[3]));
    }

    /// <summary>
    /// eˣ per lane, within 2 ulp of the exact value while the result is a normal float (x in
    /// [−87.3, 88.7]); below that it is subnormal or 0, above it +∞. Cody–Waite reduction x = n·ln2 + r with |r| ≤ ln2/2,
    /// Cephes expf's degree-6 polynomial for eʳ, and 2ⁿ applied with vscalefps.
    /// Hand-written because Vector512.Exp (and TensorPrimitives.Exp) evaluate float lanes in double
    /// precision: accuracy a softmax rounds away, at a cost measured at 13 % of decode attention and
    /// 2.4× the time over a 49,152-entry vocabulary (29.8 → 12.3 µs, sampling and log-probabilities
    /// through <see cref="ExpShiftedInPlace"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x)
    {
        x = Vector512.Min(Vector512.Max(x, Vector512.Create(-104f)), Vector512.Create(89f));
        var n = Vector512.Round(x * Vector512.Create(1.44269504f));
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-0.693359375f), x);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(2.12194440e-4f), r);
        var p = Vector512.FusedMultiplyAdd(Vector512.Create(1.9875691500e-4f), r, Vector512.Create(1.3981999507e-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(8.3334519073e-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(4.1665795894e-2f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.6666665459e-1f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(5.0000001201e-1f));
        p = Vector512.FusedMultiplyAdd(p, r * r, r) + Vector512<float>.One;
        return Avx512F.Scale(p, n);
    }

    /// <summary>a[i] = exp(a[i] − shift); returns Σ of the new values. The Vector512 path uses <see cref="Exp"/>.</summary>
    public static float ExpShiftedInPlace(float* a, int n, float shift, IsaLevel isa)
    {
        int i = 0;
        float sum = 0;
        if (isa == IsaLevel.Vector512)
        {
            var s = Vector512.Create(shift);
            var acc = Vector512<float>.Zero;
            for (; i + 16 <= n; i += 16)
            {
                var e = Exp(Vector512.Load(a + i) - s);
                e.Store(a + i);
                acc += e;
            }
            sum = Vector512.Sum(acc);
        }
        else if (isa == IsaLevel.Vector256)
        {
            var s = Vector256.Create(shift);
            var acc = Vector256<float>.Zero;
            for (; i + 8 <= n; i += 8)
            {
                var e = Vector256.Exp(Vector256.Load(a + i) - s);
                e.Store(a + i);
                acc += e;
            }
            sum = Vector256.Sum(acc);
        }
        for (; i < n; i++)
        {
            a[i] = MathF.Exp(a[i] - shift);
            sum += a[i];
        }
        return sum;
    }

    /// <summary>a[i] *= factor.</summary>
    public static void Scale(float* a, int n, float factor, IsaLevel isa)
    {
        int i = 0;
        if (isa == IsaLevel.Vector512)
        {
            var f = Vector512.Create(factor);
            for (; i + 16 <= n; i += 16) (Vector512.Load(a + i) * f).Store(a + i);
        }
        else if (isa == IsaLevel.Vector256)
        {
            var f = Vector256.Create(factor);
            for (; i + 8 <= n; i += 8) (Vector256.Load(a + i) * f).Store(a + i);
        }
        for (; i < n; i++) a[i] *= factor;
    }

    /// <summary>y[i] += alpha·x[i].</summary>
    public static void MultiplyAdd(float* y, float* x, int n, float alpha, IsaLevel isa)
    {
        int i = 0;
        if (isa == IsaLevel.Vector512)
        {
            var f = Vector512.Create(alpha);
            for (; i + 16 <= n; i += 16) Vector512.FusedMultiplyAdd(Vector512.Load(x + i), f, Vector512.Load(y + i)).Store(y + i);
        }
        else if (isa == IsaLevel.Vector256)
        {
            var f = Vector256.Create(alpha);
            for (; i + 8 <= n; i += 8) Vector256.FusedMultiplyAdd(Vector256.Load(x + i), f, Vector256.Load(y + i)).Store(y + i);
        }
        for (; i < n; i++) y[i] += alpha * x[i];
    }
}
