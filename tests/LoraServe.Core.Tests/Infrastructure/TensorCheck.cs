namespace LoraServe.Core.Tests.Infrastructure;

/// <summary>
/// llm.c's check_tensor: compares a kernel's output with a float64 reference and, on failure,
/// reports the worst element (index, values, error, allowed error) rather than the first.
/// </summary>
public static class TensorCheck
{
    /// <summary>
    /// Passes when |actual[i] − expected[i]| ≤ relTol · scale[i] + absTol for every i. For a sum of
    /// products, scale[i] is Σ|terms| (the error bound of float32 summation grows with it, not with
    /// the possibly-cancelled result).
    /// </summary>
    public static void Close(string what, ReadOnlySpan<double> expected, ReadOnlySpan<double> scale, ReadOnlySpan<float> actual,
        double relTol, double absTol = 0)
    {
        Assert.True(actual.Length >= expected.Length, $"{what}: {actual.Length} values, expected {expected.Length}");
        int worst = -1;
        double worstRatio = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double allowed = relTol * scale[i] + absTol;
            double err = Math.Abs(actual[i] - expected[i]);
            double ratio = double.IsNaN(actual[i]) ? double.PositiveInfinity : err / Math.Max(allowed, double.Epsilon);
            if (ratio > worstRatio) { worstRatio = ratio; worst = i; }
        }
        if (worstRatio > 1)
            Assert.Fail($"{what}: worst element [{worst}] = {actual[worst]:R}, expected {expected[worst]:R}, " +
                        $"error {Math.Abs(actual[worst] - expected[worst]):E3} > allowed {relTol * scale[worst] + absTol:E3} ({worstRatio:F1}×)");
    }

    /// <summary>Relative-to-magnitude check where each element's scale is its own |expected| (elementwise ops).</summary>
    public static void Close(string what, ReadOnlySpan<double> expected, ReadOnlySpan<float> actual, double relTol, double absTol = 0)
    {
        var scale = new double[expected.Length];
        for (int i = 0; i < scale.Length; i++) scale[i] = Math.Abs(expected[i]);
        Close(what, expected, scale, actual, relTol, absTol);
    }

    public static float[] Random(int count, int seed, double range = 1.0)
    {
        var rng = new Random(seed);
        var v = new float[count];
        for (int i = 0; i < count; i++) v[i] = (float)((rng.NextDouble() * 2 - 1) * range);
        return v;
    }
}
