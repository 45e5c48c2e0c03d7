namespace LoraServe.Training.Tests.Infrastructure;

/// <summary>
/// Central finite differences in float64 and the comparison every gradient test uses.
/// The analytic gradients under test come from float32 kernels; the finite differences are taken
/// of a float64 reference forward, so they carry no float32 rounding. The comparison is
/// max|analytic − fd| / max|fd| over a tensor (llm.c's check_tensor, scaled): float32 kernels
/// land near 1e-6, a wrong term (a missing factor, a dropped path) lands above 1e-2, so the
/// issue's 1e-4 bound separates the two by orders of magnitude on both sides.
/// </summary>
internal static class GradientCheck
{
    public const double Tolerance = 1e-4;

    /// <summary>∂f/∂x[i] for every i: (f(x + h·e_i) − f(x − h·e_i)) / 2h.</summary>
    public static double[] Central(Func<double[], double> f, double[] x, double h = 1e-5)
    {
        var g = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            double keep = x[i];
            x[i] = keep + h;
            double plus = f(x);
            x[i] = keep - h;
            double minus = f(x);
            x[i] = keep;
            g[i] = (plus - minus) / (2 * h);
        }
        return g;
    }

    public static double RelativeError(double[] expected, ReadOnlySpan<float> actual, out int worstAt)
    {
        double scale = 0, worst = 0;
        worstAt = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            scale = Math.Max(scale, Math.Abs(expected[i]));
            double d = Math.Abs(actual[i] - expected[i]);
            if (double.IsNaN(d)) d = double.PositiveInfinity;
            if (d > worst) { worst = d; worstAt = i; }
        }
        return scale == 0 ? worst : worst / scale;
    }

    public static void AssertClose(double[] fd, ReadOnlySpan<float> analytic, string what, double tolerance = Tolerance)
    {
        Assert.Equal(fd.Length, analytic.Length);
        double max = 0;
        foreach (var v in fd) max = Math.Max(max, Math.Abs(v));
        Assert.True(max > 1e-8, $"{what}: finite-difference gradient is all zero — the check would prove nothing");
        double err = RelativeError(fd, analytic, out int at);
        Assert.True(err <= tolerance, $"{what}: relative error {err:G3} > {tolerance:G3}; worst [{at}] analytic {analytic[at]:G9} fd {fd[at]:G9}");
    }

    public static float[] Random(Random rng, int n, double scale = 1)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        return a;
    }

    public static double[] ToDouble(float[] a) => Array.ConvertAll(a, v => (double)v);
}
