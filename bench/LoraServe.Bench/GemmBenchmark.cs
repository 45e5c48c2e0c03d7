using LoraServe.Core.Kernels;
using LoraServe.Core.Tensors;
using LoraServe.Core.Threading;

namespace LoraServe.Bench;

/// <summary>
/// Gemm.MatMulTransposed on the SmolLM2-135M projection shapes (hidden 576, intermediate 1536,
/// 9 heads × 64, 3 KV heads, vocab 49152) for M = 1, 16, 128, 512 tokens. Reports GFLOP/s as a
/// fraction of the all-core peak measured in the same run, and for M = 1 the weight bytes streamed
/// per second as a fraction of the measured read bandwidth (decode is memory-bound).
/// Weights are replicated across ≥ 256 MiB and cycled so that every call streams from DRAM, as a real
/// decode step does (one layer's weights are evicted by the other 29 before they are used again).
/// Options: --dtype BF16|F32|F16 (repeatable; default BF16 and F32), --m N (repeatable).
/// </summary>
public sealed unsafe class GemmBenchmark : IBenchmark
{
    private const long ColdBytes = 256L << 20;

    // Several row counts = matrices sharing their input, multiplied by one shared-input call as the
    // model does (q/k/v and gate/up); n is their total.
    private static readonly (string Name, int[] Ns, int K)[] Shapes =
    [
        ("q/o_proj", [576], 576),
        ("k/v_proj", [192], 576),
        ("q+k+v (one call)", [576, 192, 192], 576),
        ("gate/up_proj", [1536], 576),
        ("gate+up (one call)", [1536, 1536], 576),
        ("down_proj", [576], 1536),
        ("lm_head", [49152], 576),
    ];

    public string Name => "gemm";

    public string Description => "Gemm.MatMulTransposed GFLOP/s on SmolLM2-135M shapes vs measured peak and bandwidth";

    public void Run(BenchOptions options)
    {
        var dtypes = new List<DType>();
        var ms = new List<int>();
        for (int i = 0; i < options.Rest.Count - 1; i++)
        {
            if (options.Rest[i] == "--dtype") dtypes.Add(Enum.Parse<DType>(options.Rest[i + 1], ignoreCase: true));
            if (options.Rest[i] == "--m") ms.Add(int.Parse(options.Rest[i + 1]));
        }
        if (dtypes.Count == 0) dtypes.AddRange([DType.BF16, DType.F32]);
        if (ms.Count == 0) ms.AddRange([1, 16, 128, 512]);

        double peak = PeakFlopsBenchmark.Measure(KernelThreadPool.ThreadCount, options.Reps);
        double bandwidth = MemoryBandwidthBenchmark.Measure(options.Reps);
        Console.WriteLine($"measured {KernelThreadPool.ThreadCount}-thread peak {peak / 1e9:F1} GFLOP/s, read bandwidth {bandwidth / 1e9:F1} GB/s; median of {options.Reps} reps, {Timing.ClockName}");
        Console.WriteLine();
        Console.WriteLine("| dtype | matrix | n×k | M | time µs | GFLOP/s | % of peak | GB/s (M=1) | % of bandwidth |");
        Console.WriteLine("|---|---|---|---:|---:|---:|---:|---:|---:|");
        foreach (var dtype in dtypes)
            foreach (var (name, ns, k) in Shapes)
            {
                int n = ns.Sum();
                long bytes = (long)n * k * dtype.SizeInBytes();
                int copies = (int)Math.Clamp(ColdBytes / bytes + 1, 1, 4096);
                using var buffer = new NativeBuffer(bytes * copies, zero: false);
                FillRandom(buffer, dtype, n * (long)k);
                for (int c = 1; c < copies; c++)
                    Buffer.MemoryCopy((void*)buffer.Pointer, (void*)(buffer.Pointer + (nint)(bytes * c)), bytes, bytes);
                var weights = new WeightMatrix[copies][];
                for (int c = 0; c < copies; c++)
                {
                    weights[c] = new WeightMatrix[ns.Length];
                    long offset = bytes * c;
                    for (int p = 0; p < ns.Length; p++)
                    {
                        weights[c][p] = new WeightMatrix(buffer.Pointer + (nint)offset, ns[p], k, dtype, name);
                        offset += (long)ns[p] * k * dtype.SizeInBytes();
                    }
                }
                foreach (int m in ms)
                {
                    var x = new float[m * k];
                    var y = new float[m * n];
                    var ys = ns.Select(r => new float[m * r]).ToArray();
                    var rng = new Random(1);
                    for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
                    int next = 0;
                    double seconds = Timing.MedianSecondsPerCall(() =>
                    {
                        var w = weights[next];
                        switch (w.Length)
                        {
                            case 1: Gemm.MatMulTransposed(x, m, w[0], y); break;
                            case 2: Gemm.MatMulTransposed(x, m, w[0], ys[0], w[1], ys[1]); break;
                            default: Gemm.MatMulTransposed(x, m, w[0], ys[0], w[1], ys[1], w[2], ys[2]); break;
                        }
                        next = next + 1 == copies ? 0 : next + 1;
                    }, options.Reps);
                    double flops = 2.0 * m * n * k / seconds;
                    string bw = m == 1 ? $"{bytes / seconds / 1e9:F1} | {100 * bytes / seconds / bandwidth:F0}%" : " | ";
                    Console.WriteLine($"| {dtype} | {name} | {n}×{k} | {m} | {seconds * 1e6:F1} | {flops / 1e9:F1} | {100 * flops / peak:F0}% | {bw} |");
                }
            }
    }

    private static void FillRandom(NativeBuffer buffer, DType dtype, long count)
    {
        var rng = new Random(42);
        switch (dtype)
        {
            case DType.F32:
                var f = buffer.AsSpan<float>();
                for (long i = 0; i < count; i++) f[(int)i] = (float)(rng.NextDouble() - 0.5);
                break;
            case DType.BF16:
                var b = buffer.AsSpan<ushort>();
                for (long i = 0; i < count; i++) b[(int)i] = BFloat16.FromSingle((float)(rng.NextDouble() - 0.5));
                break;
            case DType.F16:
                var h = buffer.AsSpan<Half>();
                for (long i = 0; i < count; i++) h[(int)i] = (Half)(rng.NextDouble() - 0.5);
                break;
        }
    }
}
