namespace LoraServe.Core.Kernels;

/// <summary>RMSNorm as in HF LlamaRMSNorm: y = x / sqrt(mean(x²) + eps) · weight.</summary>
public static class RmsNorm
{
    /// <summary>x, y: (rows, dim); weight: (dim). y may alias x.</summary>
    public static void Apply(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> y, int rows)
    {
        int dim = weight.Length;
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * dim, dim);
            var yr = y.Slice(r * dim, dim);
            double ss = 0;
            for (int i = 0; i < dim; i++) ss += (double)xr[i] * xr[i];
            float inv = (float)(1.0 / Math.Sqrt(ss / dim + eps));
            for (int i = 0; i < dim; i++) yr[i] = xr[i] * inv * weight[i];
        }
    }
}
