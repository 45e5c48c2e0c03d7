using LoraServe.Core.Kernels;
using LoraServe.Core.Tensors;
using LoraServe.Core.Tests.Infrastructure;
using LoraServe.Core.Threading;

namespace LoraServe.Core.Tests.Kernels;

public sealed unsafe class GemmTests : IDisposable
{
    private readonly int _gemvMinBytes = Gemm.Tuning.GemvMinBytes;
    private readonly int _gemvGranuleBytes = Gemm.Tuning.GemvGranuleBytes;

    // The test matrices are small: let every batch-1 BF16 product take the GEMV kernel (production
    // sends matrices under 256 KB to the tiles), so its odd sizes, tails and ISA paths are all covered.
    // Test classes run one at a time (AssemblySettings), so this process-wide switch is safe.
    public GemmTests() => Gemm.Tuning.GemvMinBytes = 0;

    public void Dispose()
    {
        Gemm.Tuning.GemvMinBytes = _gemvMinBytes;
        Gemm.Tuning.GemvGranuleBytes = _gemvGranuleBytes;
    }

    /// <summary>
    /// The batch-1 GEMV's schedule (a contiguous part per thread, granules claimed from its front,
    /// leftovers stolen from the backs) computes every row exactly once: with granules of one row, of
    /// a few rows straddling the q/k/v segment boundaries, or larger than a whole call, on one thread
    /// or on all, every output equals the single-threaded separate calls bit for bit and the float64
    /// reference within tolerance.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(3 * 2 * 577)]
    [InlineData(16 * 1024)]
    [InlineData(1 << 30)]
    public void Gemv_schedule_computes_every_row_once_whatever_the_granule(int granuleBytes)
    {
        const int k = 577;
        using var w0 = RandomWeights(191, k, DType.BF16, seed: 11);
        using var w1 = RandomWeights(5, k, DType.BF16, seed: 12);
        using var w2 = RandomWeights(64, k, DType.BF16, seed: 13);
        var x = TensorCheck.Random(k, seed: 14);
        var e0 = new float[191];
        var e1 = new float[5];
        var e2 = new float[64];
        using (KernelThreadPool.LimitCurrentThread(1))
        {
            Gemm.MatMulTransposed(x, 1, w0.Matrix, e0);
            Gemm.MatMulTransposed(x, 1, w1.Matrix, e1);
            Gemm.MatMulTransposed(x, 1, w2.Matrix, e2);
        }
        Gemm.Tuning.GemvGranuleBytes = granuleBytes;
        foreach (int threads in new[] { 1, KernelThreadPool.ThreadCount })
        {
            using var limit = KernelThreadPool.LimitCurrentThread(threads);
            for (int rep = 0; rep < 20; rep++)
            {
                var y0 = new float[191];
                var y1 = new float[5];
                var y2 = new float[64];
                Gemm.MatMulTransposed(x, 1, w0.Matrix, y0, w1.Matrix, y1, w2.Matrix, y2);
                Assert.Equal(e0, y0);
                Assert.Equal(e1, y1);
                Assert.Equal(e2, y2);
            }
        }
        var (expected, scale) = Reference(x, 1, w0.Matrix, null);
        TensorCheck.Close($"granule {granuleBytes}", expected, scale, e0, RelTol);
    }

    private static readonly int[] Ms = [1, 3, 17, 130];
    // 48 (a multiple of 16) takes the in-place paths: f32 W read directly, 16-bit W widened inside the
    // tile for m ≤ Gemm.Tuning.FusedMaxM; the others take the zero-padded, widened-into-scratch path.
    private static readonly int[] Ks = [1, 7, 48, 65, 577];
    private static readonly int[] Ns = [1, 5, 33, 191];

    // float32 products summed in float32: error ≲ k·ε·Σ|terms| in the worst case, ~√k·ε typically;
    // 1e-5 of the magnitude sum leaves room for k = 577 while catching any wrong term.
    private const double RelTol = 1e-5;

    public static TheoryData<DType, IsaLevel, bool> Cases()
    {
        var data = new TheoryData<DType, IsaLevel, bool>();
        foreach (var dtype in new[] { DType.F32, DType.F16, DType.BF16 })
            foreach (var isa in IsaScope.Levels())
                foreach (var accumulate in new[] { false, true })
                    data.Add(dtype, isa, accumulate);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatMulTransposed_matches_float64_reference_on_odd_sizes(DType dtype, IsaLevel isa, bool accumulate)
    {
        using var scope = new IsaScope(isa);
        foreach (int k in Ks)
            foreach (int n in Ns)
            {
                using var weights = RandomWeights(n, k, dtype, seed: n * 1000 + k);
                foreach (int m in Ms)
                {
                    var x = TensorCheck.Random(m * k, seed: m + k + n);
                    var y0 = TensorCheck.Random(m * n, seed: 7 * m + n);
                    var (expected, scale) = Reference(x, m, weights.Matrix, accumulate ? y0 : null);
                    var y = (float[])y0.Clone();
                    Gemm.MatMulTransposed(x, m, weights.Matrix, y, accumulate);
                    TensorCheck.Close($"{dtype} {isa} m={m} k={k} n={n} acc={accumulate}", expected, scale, y, RelTol);
                }
            }
    }

    public static TheoryData<DType, IsaLevel, int> SharedInputCases()
    {
        var data = new TheoryData<DType, IsaLevel, int>();
        foreach (var dtype in new[] { DType.F32, DType.BF16 })
            foreach (var isa in IsaScope.Levels())
                foreach (int m in new[] { 1, 3 })
                    data.Add(dtype, isa, m);
        return data;
    }

    /// <summary>
    /// The shared-input overloads (q/k/v, gate/up) equal separate calls bit for bit: at batch 1 with
    /// BF16 weights they run as one job over all matrices, otherwise as separate calls.
    /// </summary>
    [Theory]
    [MemberData(nameof(SharedInputCases))]
    public void Shared_input_products_equal_separate_calls(DType dtype, IsaLevel isa, int m)
    {
        using var scope = new IsaScope(isa);
        foreach (int k in new[] { 7, 48, 577, 1536 })
        {
            using var w0 = RandomWeights(191, k, dtype, seed: 1);
            using var w1 = RandomWeights(5, k, dtype, seed: 2);
            using var w2 = RandomWeights(64, k, dtype, seed: 3);
            var x = TensorCheck.Random(m * k, seed: k);
            var e0 = new float[m * 191];
            var e1 = new float[m * 5];
            var e2 = new float[m * 64];
            Gemm.MatMulTransposed(x, m, w0.Matrix, e0);
            Gemm.MatMulTransposed(x, m, w1.Matrix, e1);
            Gemm.MatMulTransposed(x, m, w2.Matrix, e2);
            var y0 = new float[m * 191];
            var y1 = new float[m * 5];
            var y2 = new float[m * 64];
            Gemm.MatMulTransposed(x, m, w0.Matrix, y0, w1.Matrix, y1, w2.Matrix, y2);
            Assert.Equal(e0, y0);
            Assert.Equal(e1, y1);
            Assert.Equal(e2, y2);
            Array.Clear(y0);
            Array.Clear(y2);
            Gemm.MatMulTransposed(x, m, w2.Matrix, y2, w0.Matrix, y0);
            Assert.Equal(e0, y0);
            Assert.Equal(e2, y2);
            var (expected, scale) = Reference(x, m, w0.Matrix, null);
            TensorCheck.Close($"shared {dtype} {isa} m={m} k={k}", expected, scale, y0, RelTol);
            using (KernelThreadPool.LimitCurrentThread(1))
            {
                Array.Clear(y0);
                Gemm.MatMulTransposed(x, m, w0.Matrix, y0, w1.Matrix, y1, w2.Matrix, y2);
            }
            Assert.Equal(e0, y0);
        }
    }

    [Theory]
    [MemberData(nameof(IsaCases))]
    public void Batch1_bf16_below_the_gemv_threshold_takes_the_tiles_and_matches_reference(IsaLevel isa)
    {
        using var scope = new IsaScope(isa);
        Gemm.Tuning.GemvMinBytes = 1 << 20;
        foreach (int k in new[] { 48, 577 })
        {
            using var weights = RandomWeights(191, k, DType.BF16, seed: k);
            var x = TensorCheck.Random(k, seed: 5);
            var y = new float[191];
            Gemm.MatMulTransposed(x, 1, weights.Matrix, y);
            var (expected, scale) = Reference(x, 1, weights.Matrix, null);
            TensorCheck.Close($"tiles {isa} k={k}", expected, scale, y, RelTol);
        }
    }

    [Theory]
    [InlineData(DType.F32, 1040)]
    [InlineData(DType.BF16, 1040)]
    [InlineData(DType.F16, 2064)]
    [InlineData(DType.BF16, 2071)]
    public void Long_k_split_into_slices_matches_reference(DType dtype, int k)
    {
        // k above Gemm.Tuning.KC is cut into equal slices accumulated in the task's y block.
        foreach (int m in new[] { 1, 5, 21 })
        {
            const int n = 37;
            using var weights = RandomWeights(n, k, dtype, seed: k + m);
            var x = TensorCheck.Random(m * k, seed: m);
            var y0 = TensorCheck.Random(m * n, seed: 2);
            var (expected, scale) = Reference(x, m, weights.Matrix, y0);
            var y = (float[])y0.Clone();
            Gemm.MatMulTransposed(x, m, weights.Matrix, y, accumulate: true);
            TensorCheck.Close($"{dtype} m={m} k={k}", expected, scale, y, RelTol);
        }
    }

    [Theory]
    [InlineData(DType.BF16, 130, 577)]
    [InlineData(DType.F32, 130, 576)]
    [InlineData(DType.BF16, 9, 576)]
    [InlineData(DType.F16, 2, 576)]
    [InlineData(DType.BF16, 1, 577)]
    [InlineData(DType.BF16, 1, 1536)]
    public void Multi_threaded_result_equals_single_threaded_bit_for_bit(DType dtype, int m, int k)
    {
        // Tiling over n and the order of every sum do not depend on the thread count, only which
        // thread computes a tile does: the result must not change with it.
        const int n = 191;
        using var weights = RandomWeights(n, k, dtype, seed: 3);
        var x = TensorCheck.Random(m * k, seed: 4);
        var single = new float[m * n];
        var multi = new float[m * n];
        using (KernelThreadPool.LimitCurrentThread(1)) Gemm.MatMulTransposed(x, m, weights.Matrix, single);
        Gemm.MatMulTransposed(x, m, weights.Matrix, multi);
        Assert.True(KernelThreadPool.ThreadCount > 1 || Environment.ProcessorCount == 1);
        Assert.Equal(single, multi);
        var (expected, scale) = Reference(x, m, weights.Matrix, null);
        TensorCheck.Close("multi-threaded", expected, scale, multi, RelTol);
    }

    [Theory]
    [MemberData(nameof(IsaCases))]
    public void Float32_overload_matches_reference_on_lora_shapes(IsaLevel isa)
    {
        using var scope = new IsaScope(isa);
        // LoRA A (r × in) then B (out × r): small n, then small k; plus the odd sizes.
        (int m, int n, int k)[] shapes = [(1, 8, 576), (17, 16, 576), (130, 576, 8), (3, 191, 16), (17, 5, 7), (130, 33, 65), (1, 1, 1)];
        foreach (var (m, n, k) in shapes)
            foreach (bool accumulate in new[] { false, true })
            {
                var x = TensorCheck.Random(m * k, seed: m * 31 + k);
                var b = TensorCheck.Random(n * k, seed: n * 17 + k);
                var y0 = TensorCheck.Random(m * n, seed: 5);
                var expected = new double[m * n];
                var scale = new double[m * n];
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++)
                    {
                        double s = accumulate ? y0[i * n + j] : 0, a = Math.Abs(s);
                        for (int p = 0; p < k; p++) { s += (double)x[i * k + p] * b[j * k + p]; a += Math.Abs((double)x[i * k + p] * b[j * k + p]); }
                        expected[i * n + j] = s;
                        scale[i * n + j] = a;
                    }
                var y = (float[])y0.Clone();
                Gemm.MatMulTransposed(x, m, b, n, k, y, accumulate);
                TensorCheck.Close($"f32 {isa} m={m} n={n} k={k} acc={accumulate}", expected, scale, y, RelTol);
            }
    }

    public static TheoryData<IsaLevel> IsaCases() => IsaScope.Available();

    [Fact]
    public void Zero_rows_and_zero_k_are_handled()
    {
        var y = new float[] { 1, 2, 3 };
        Gemm.MatMulTransposed(ReadOnlySpan<float>.Empty, 0, ReadOnlySpan<float>.Empty, 3, 0, y);
        Assert.Equal(new float[] { 1, 2, 3 }, y);
        Gemm.MatMulTransposed(ReadOnlySpan<float>.Empty, 1, ReadOnlySpan<float>.Empty, 3, 0, y);
        Assert.Equal(new float[] { 0, 0, 0 }, y);
    }

    [Fact]
    public void Short_output_is_rejected_with_the_weight_name()
    {
        using var weights = RandomWeights(4, 3, DType.F32, seed: 1, name: "model.layers.0.mlp.up_proj.weight");
        var ex = Assert.Throws<ArgumentException>(() => Gemm.MatMulTransposed(new float[6], 2, weights.Matrix, new float[7]));
        Assert.Contains("up_proj", ex.Message);
    }

    [Theory]
    [MemberData(nameof(IsaCases))]
    public void F16_widening_is_exact_for_every_bit_pattern(IsaLevel isa)
    {
        // All 65 536 halves: normals, subnormals, ±0, ±Inf, NaNs, against .NET's scalar Half → float.
        var bits = new ushort[65536];
        for (int i = 0; i < bits.Length; i++) bits[i] = (ushort)i;
        var widened = new float[bits.Length];
        fixed (ushort* src = bits)
        fixed (float* dst = widened)
            WeightWidening.WidenF16(src, dst, bits.Length, isa);
        for (int i = 0; i < bits.Length; i++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf((ushort)i);
            if (float.IsNaN(expected)) Assert.True(float.IsNaN(widened[i]), $"half 0x{i:X4} should widen to NaN, got {widened[i]}");
            else Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(widened[i]),
                $"half 0x{i:X4}: expected {expected:R}, got {widened[i]:R}");
        }
    }

    internal static (double[] Expected, double[] Scale) Reference(float[] x, int m, WeightMatrix w, float[]? y0)
    {
        int n = w.Rows, k = w.Cols;
        var wf = new double[n * k];
        for (int j = 0; j < n; j++)
            for (int p = 0; p < k; p++) wf[j * k + p] = w[j, p];
        var expected = new double[m * n];
        var scale = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = y0 is null ? 0 : y0[i * n + j], a = Math.Abs(s);
                for (int p = 0; p < k; p++)
                {
                    double t = x[i * k + p] * wf[j * k + p];
                    s += t;
                    a += Math.Abs(t);
                }
                expected[i * n + j] = s;
                scale[i * n + j] = a;
            }
        return (expected, scale);
    }

    internal sealed class OwnedWeights(NativeBuffer buffer, WeightMatrix matrix) : IDisposable
    {
        public WeightMatrix Matrix { get; } = matrix;

        public void Dispose() => buffer.Dispose();
    }

    internal static OwnedWeights RandomWeights(int n, int k, DType dtype, int seed, string name = "w")
    {
        var values = TensorCheck.Random(n * k, seed);
        var buffer = new NativeBuffer((long)n * k * dtype.SizeInBytes());
        for (int i = 0; i < values.Length; i++)
        {
            switch (dtype)
            {
                case DType.F32: ((float*)buffer.Pointer)[i] = values[i]; break;
                case DType.F16: ((Half*)buffer.Pointer)[i] = (Half)values[i]; break;
                case DType.BF16: ((ushort*)buffer.Pointer)[i] = BFloat16.FromSingle(values[i]); break;
            }
        }
        return new OwnedWeights(buffer, new WeightMatrix(buffer.Pointer, n, k, dtype, name));
    }
}
