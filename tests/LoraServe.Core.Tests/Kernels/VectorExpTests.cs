using System.Runtime.Intrinsics;
using LoraServe.Core.Kernels;

namespace LoraServe.Core.Tests.Kernels;

/// <summary>The softmax's vector exp against double-precision Math.Exp, and its edge values.</summary>
public sealed class VectorExpTests
{
    /// <summary>One ulp of a float relative to its value is at most 2⁻²³; the kernel promises 2 ulp.</summary>
    private const double TwoUlp = 2.0 / (1 << 23);

    [Fact]
    public void Exp_is_within_two_ulp_of_double_precision_over_the_normal_range()
    {
        if (KernelIsa.Hardware < IsaLevel.Vector512) return; // the Vector512 attention path is the only caller
        var rng = new Random(5);
        var x = new float[16];
        double worst = 0;
        for (int batch = 0; batch < 20_000; batch++)
        {
            for (int i = 0; i < 16; i++)
            {
                // Mostly the softmax's domain (x ≤ 0, most near 0), also the whole normal range and points near ln2 multiples.
                x[i] = (batch % 4) switch
                {
                    0 => (float)(-rng.NextDouble() * 20),
                    1 => (float)(rng.NextDouble() * (88.7 + 87.3) - 87.3),
                    2 => (float)(Math.Round(rng.NextDouble() * 250 - 125) * Math.Log(2) + (rng.NextDouble() - 0.5) * 1e-3),
                    _ => (float)(-rng.NextDouble() * 1e-3),
                };
                x[i] = Math.Clamp(x[i], -87.3f, 88.7f);
            }
            var e = VectorMath.Exp(Vector512.Create(x));
            for (int i = 0; i < 16; i++)
            {
                double exact = Math.Exp(x[i]);
                worst = Math.Max(worst, Math.Abs(e[i] - exact) / exact);
            }
        }
        Assert.True(worst <= TwoUlp, $"worst relative error {worst:E3} above 2 ulp ({TwoUlp:E3})");
    }

    [Fact]
    public void Exp_edge_values()
    {
        if (KernelIsa.Hardware < IsaLevel.Vector512) return;
        float[] x = [0f, float.NegativeInfinity, -1000f, -104f, -100f, 89f, 1000f, float.PositiveInfinity, 1f, -1f, 88.7f, -87.3f, 0.5f, -0.5f, 10f, -10f];
        var e = VectorMath.Exp(Vector512.Create(x));
        Assert.Equal(1f, e[0]); // the softmax's maximum lane weighs exactly 1
        Assert.Equal(0f, e[1]);
        Assert.Equal(0f, e[2]);
        Assert.Equal(0f, e[3]); // e^-104 ≈ 6.8e-46, below half the smallest subnormal
        Assert.Equal(Math.Exp(-100), e[4], 1e-45); // subnormal: absolute, not relative, accuracy
        Assert.Equal(float.PositiveInfinity, e[5]);
        Assert.Equal(float.PositiveInfinity, e[6]);
        Assert.Equal(float.PositiveInfinity, e[7]);
        for (int i = 8; i < 16; i++) Assert.True(Math.Abs(e[i] - Math.Exp(x[i])) <= TwoUlp * Math.Exp(x[i]), $"exp({x[i]}) = {e[i]}, expected {Math.Exp(x[i])}");
    }
}
