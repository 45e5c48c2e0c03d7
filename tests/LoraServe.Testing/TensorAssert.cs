using Xunit;
namespace LoraServe.Testing;

/// <summary>Compares tensors and reports the worst element (llm.c's check_tensor habit).</summary>
public static class TensorAssert
{
    /// <summary>max |actual − expected| ≤ tolerance · max(1, max |expected|), per row when 2-D.</summary>
    public static void Close(double[,] expected, float[] actual, double tolerance, string what)
    {
        int rows = expected.GetLength(0), cols = expected.GetLength(1);
        Assert.Equal(rows * cols, actual.Length);
        for (int r = 0; r < rows; r++)
        {
            var e = new double[cols];
            for (int c = 0; c < cols; c++) e[c] = expected[r, c];
            Close(e, actual.AsSpan(r * cols, cols).ToArray(), tolerance, $"{what} row {r}");
        }
    }

    public static void Close(float[] expected, float[] actual, double tolerance, string what) =>
        Close(Array.ConvertAll(expected, x => (double)x), actual, tolerance, what);

    public static void Close(double[] expected, float[] actual, double tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = 1, worst = 0;
        int worstAt = -1;
        foreach (var e in expected) scale = Math.Max(scale, Math.Abs(e));
        for (int i = 0; i < expected.Length; i++)
        {
            double d = Math.Abs(actual[i] - expected[i]);
            if (double.IsNaN(actual[i])) d = double.PositiveInfinity;
            if (d > worst) { worst = d; worstAt = i; }
        }
        Assert.True(worst <= tolerance * scale,
            $"{what}: worst element [{worstAt}] expected {(worstAt >= 0 ? expected[worstAt] : 0):G9} actual {(worstAt >= 0 ? actual[worstAt] : 0):G9}, |diff| {worst:G3} > {tolerance:G3}·{scale:G3}");
    }
}
