using LoraServe.Core.Kernels;
using LoraServe.Core.Tests.Infrastructure;

namespace LoraServe.Core.Tests.Kernels;

/// <summary>RmsNorm, SiluMul and Softmax against float64 references, on every SIMD path and odd sizes.</summary>
public sealed class RowKernelTests
{
    private static readonly int[] Dims = [1, 7, 16, 65, 577];
    private static readonly int[] RowCounts = [1, 3, 130];

    public static TheoryData<IsaLevel> Isas() => IsaScope.Available();

    [Theory]
    [MemberData(nameof(Isas))]
    public void RmsNorm_matches_hf_formula(IsaLevel isa)
    {
        using var scope = new IsaScope(isa);
        const float eps = 1e-5f;
        foreach (int dim in Dims)
            foreach (int rows in RowCounts)
            {
                var x = TensorCheck.Random(rows * dim, seed: dim + rows, range: 3);
                var w = TensorCheck.Random(dim, seed: dim);
                var expected = new double[rows * dim];
                for (int r = 0; r < rows; r++)
                {
                    double ss = 0;
                    for (int i = 0; i < dim; i++) ss += (double)x[r * dim + i] * x[r * dim + i];
                    double inv = 1 / Math.Sqrt(ss / dim + eps);
                    for (int i = 0; i < dim; i++) expected[r * dim + i] = x[r * dim + i] * inv * w[i];
                }
                var y = new float[rows * dim];
                RmsNorm.Apply(x, w, eps, y, rows);
                TensorCheck.Close($"rmsnorm {isa} dim={dim} rows={rows}", expected, y, 1e-5, 1e-6);
                // In place (y aliases x), as the model runner calls it.
                RmsNorm.Apply(x, w, eps, x, rows);
                TensorCheck.Close($"rmsnorm in place {isa} dim={dim} rows={rows}", expected, x, 1e-5, 1e-6);
            }
    }

    [Theory]
    [MemberData(nameof(Isas))]
    public void SiluMul_matches_reference_including_large_magnitudes(IsaLevel isa)
    {
        using var scope = new IsaScope(isa);
        foreach (int n in new[] { 1, 15, 17, 1536, 70001 })
        {
            var gate = TensorCheck.Random(n, seed: n, range: 30);
            var up = TensorCheck.Random(n, seed: n + 1, range: 2);
            var expected = new double[n];
            for (int i = 0; i < n; i++) expected[i] = gate[i] / (1 + Math.Exp(-(double)gate[i])) * up[i];
            Activations.SiluMul(gate, up);
            TensorCheck.Close($"silu {isa} n={n}", expected, gate, 1e-5, 1e-30);
        }
    }

    [Theory]
    [MemberData(nameof(Isas))]
    public void Softmax_matches_reference_and_sums_to_one(IsaLevel isa)
    {
        using var scope = new IsaScope(isa);
        foreach (int n in new[] { 1, 7, 16, 33, 49152 })
        {
            var x = TensorCheck.Random(n, seed: n, range: 20);
            x[n / 2] = 80; // far above the rest: exp without the max shift would overflow
            double max = x.Max(), sum = 0;
            var expected = new double[n];
            for (int i = 0; i < n; i++) sum += expected[i] = Math.Exp(x[i] - max);
            for (int i = 0; i < n; i++) expected[i] /= sum;
            double lse = max + Math.Log(sum);
            Assert.Equal(lse, Softmax.LogSumExp(x), 5);
            Softmax.InPlace(x);
            TensorCheck.Close($"softmax {isa} n={n}", expected, x, 1e-5, 1e-9);
        }
    }

    [Theory]
    [MemberData(nameof(Isas))]
    public void Softmax_rows_match_row_by_row(IsaLevel isa)
    {
        using var scope = new IsaScope(isa);
        const int rows = 130, cols = 577;
        var x = TensorCheck.Random(rows * cols, seed: 9, range: 10);
        var expected = new double[rows * cols];
        for (int r = 0; r < rows; r++)
        {
            double max = double.NegativeInfinity, sum = 0;
            for (int i = 0; i < cols; i++) max = Math.Max(max, x[r * cols + i]);
            for (int i = 0; i < cols; i++) sum += expected[r * cols + i] = Math.Exp(x[r * cols + i] - max);
            for (int i = 0; i < cols; i++) expected[r * cols + i] /= sum;
        }
        Softmax.Rows(x, rows, cols);
        TensorCheck.Close($"softmax rows {isa}", expected, x, 1e-5, 1e-9);
    }
}
