using LoraServe.Core.Kernels;
using LoraServe.Core.Tests.Infrastructure;

namespace LoraServe.Core.Tests.Kernels;

public sealed class RopeTests
{
    public static TheoryData<IsaLevel> Isas() => IsaScope.Available();

    [Fact]
    public void Default_inverse_frequencies_are_theta_to_minus_two_i_over_d()
    {
        var inv = Rope.ComputeInverseFrequencies(64, 10000, null);
        Assert.Equal(32, inv.Length);
        Assert.Equal(1f, inv[0]);
        Assert.Equal((float)Math.Pow(10000, -2.0 / 64), inv[1]);
        Assert.Equal((float)Math.Pow(10000, -62.0 / 64), inv[31]);
    }

    [Fact]
    public void Llama3_scaling_matches_hand_derived_values()
    {
        // Llama 3.1: theta 500000, head_dim 128, factor 8, low 1, high 4, original 8192, so
        // low_freq_wavelen = 8192, high_freq_wavelen = 2048. Derived by hand (HF _compute_llama3_parameters):
        //  i = 0:  inv = 1, wavelen 2π < 2048 → kept: 1.
        //  i = 31: inv = 500000^(−62/128) = 1.7360467e−3, wavelen = 3619.249 (medium):
        //          s = (8192/3619.249 − 1)/(4 − 1) = 0.421151; (1 − s)·inv/8 + s·inv = 8.5675141e−4.
        //  i = 40: inv = 2.7424818e−4, wavelen 22910.6 > 8192 → inv/8 = 3.4281022e−5.
        //  i = 63: inv = 2.4551408e−6 → /8 = 3.0689260e−7.
        var inv = Rope.ComputeInverseFrequencies(128, 500000, new Llama3RopeScaling(8, 1, 4, 8192));
        Assert.Equal(1f, inv[0]);
        // float32 results: compare to 1e−6 relative (a float32 ulp is ~6e−8 relative).
        Assert.Equal(8.5675141e-4, inv[31], 8.6e-10);
        Assert.Equal(3.4281022e-5, inv[40], 3.5e-11);
        Assert.Equal(3.0689260e-7, inv[63], 3.1e-13);
        // Medium band is a blend: strictly between inv/8 and inv.
        double raw = Math.Pow(500000, -62.0 / 128);
        Assert.InRange(inv[31], raw / 8, raw);
    }

    [Theory]
    [MemberData(nameof(Isas))]
    public void Apply_rotates_pairs_i_and_i_plus_half_like_hf(IsaLevel isa)
    {
        using var scope = new IsaScope(isa);
        foreach (int headDim in new[] { 2, 18, 64, 96 })
        {
            const int heads = 3;
            int[] positions = [0, 1, 7, 4095, 100000];
            var rope = new Rope(headDim, 10000);
            var x = TensorCheck.Random(positions.Length * heads * headDim, seed: headDim);
            var expected = new double[x.Length];
            int half = headDim / 2;
            for (int t = 0; t < positions.Length; t++)
                for (int h = 0; h < heads; h++)
                    for (int i = 0; i < half; i++)
                    {
                        // HF: freqs = position · inv_freq in float32, then cos/sin of it.
                        double angle = (float)((float)positions[t] * rope.InverseFrequencies[i]);
                        int b = (t * heads + h) * headDim;
                        double x1 = x[b + i], x2 = x[b + i + half];
                        expected[b + i] = x1 * Math.Cos(angle) - x2 * Math.Sin(angle);
                        expected[b + i + half] = x2 * Math.Cos(angle) + x1 * Math.Sin(angle);
                    }
            rope.Apply(x, positions, heads);
            TensorCheck.Close($"rope {isa} headDim={headDim}", expected, x, 1e-6, 1e-6);
        }
    }

    /// <summary>
    /// Positions that arrive in growing steps (as a decode does, past the table's first 256 positions
    /// and its doublings) and then jump back rotate exactly as one call over all of them would.
    /// </summary>
    [Fact]
    public void Table_growth_across_calls_gives_the_same_rotation_as_one_call()
    {
        const int headDim = 18, heads = 2;
        int[][] calls = [[0, 5], [255], [256, 300], [511, 513, 1200], [9000], [40000], [3]];
        int[] all = calls.SelectMany(c => c).ToArray();
        var x = TensorCheck.Random(all.Length * heads * headDim, seed: 9);
        var expected = (float[])x.Clone();
        new Rope(headDim, 10000).Apply(expected, all, heads);
        var rope = new Rope(headDim, 10000);
        int offset = 0;
        foreach (var positions in calls)
        {
            rope.Apply(x.AsSpan(offset * heads * headDim, positions.Length * heads * headDim), positions, heads);
            offset += positions.Length;
        }
        Assert.Equal(expected, x);
    }

    [Fact]
    public void Negative_position_is_rejected()
    {
        var rope = new Rope(8, 10000);
        var x = new float[2 * 8];
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => rope.Apply(x, [3, -1], heads: 1));
        Assert.Contains("token 1", e.Message);
    }

    [Fact]
    public void Apply_at_position_zero_is_identity()
    {
        var rope = new Rope(64, 10000);
        var x = TensorCheck.Random(2 * 64, seed: 1);
        var before = (float[])x.Clone();
        rope.Apply(x, [0], heads: 2);
        Assert.Equal(before, x);
    }
}
