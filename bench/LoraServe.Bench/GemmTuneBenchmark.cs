using LoraServe.Core.Kernels;
using LoraServe.Core.Tensors;

namespace LoraServe.Bench;

/// <summary>
/// Sweeps one GEMM blocking parameter (Gemm.Tuning) on the SmolLM2 shapes. Configurations are timed
/// round-robin, rep by rep, so a noisy neighbour slows all of them alike and the comparison of
/// medians stays fair on a shared machine.
/// Usage: gemm-tune --param kc|block-rows|fused-max-m|decode-block-bytes|prefetch-tiles|gemv|gemv-prefetch|gemv-granule-bytes|gemv-min-bytes --values 256,512,1024 [--m N]... [--dtype BF16]
/// </summary>
public sealed class GemmTuneBenchmark : IBenchmark
{
    private static readonly (string Name, int N, int K)[] Shapes =
    [
        ("q/o_proj", 576, 576), ("k/v_proj", 192, 576), ("gate/up_proj", 1536, 576), ("down_proj", 576, 1536), ("lm_head", 49152, 576),
    ];

    public string Name => "gemm-tune";

    public string Description => "round-robin sweep of one GEMM blocking parameter (kc, block-rows, fused-max-m, decode-block-bytes, prefetch-tiles, gemv, gemv-prefetch, gemv-granule-bytes, gemv-min-bytes)";

    public void Run(BenchOptions options)
    {
        string param = "kc";
        int[] values = [256, 512, 1024];
        var ms = new List<int>();
        var dtype = DType.BF16;
        for (int i = 0; i < options.Rest.Count - 1; i++)
        {
            switch (options.Rest[i])
            {
                case "--param": param = options.Rest[i + 1]; break;
                case "--values": values = options.Rest[i + 1].Split(',').Select(int.Parse).ToArray(); break;
                case "--m": ms.Add(int.Parse(options.Rest[i + 1])); break;
                case "--dtype": dtype = Enum.Parse<DType>(options.Rest[i + 1], ignoreCase: true); break;
            }
        }
        if (ms.Count == 0) ms.AddRange([1, 16, 128]);
        Action<int> apply = param switch
        {
            "kc" => v => Gemm.Tuning.KC = v,
            "block-rows" => v => Gemm.Tuning.LargeMBlockRows = v,
            "fused-max-m" => v => Gemm.Tuning.FusedMaxM = v,
            "decode-block-bytes" => v => Gemm.Tuning.DecodeBlockBytes = v,
            "prefetch-tiles" => v => Gemm.Tuning.PrefetchTiles = v,
            "gemv" => v => Gemm.Tuning.Gemv = v,
            "gemv-min-bytes" => v => Gemm.Tuning.GemvMinBytes = v,
            "gemv-prefetch" => v => Gemm.Tuning.GemvPrefetchBytes = v,
            "gemv-granule-bytes" => v => Gemm.Tuning.GemvGranuleBytes = v,
            _ => throw new ArgumentException($"unknown parameter '{param}'"),
        };
        Console.WriteLine($"| matrix | M | {string.Join(" | ", values.Select(v => $"{param}={v} GFLOP/s"))} |");
        Console.WriteLine($"|---|---:|{string.Concat(values.Select(_ => "---:|"))}");
        foreach (var (name, n, k) in Shapes)
        {
            long bytes = (long)n * k * dtype.SizeInBytes();
            int copies = (int)Math.Clamp((256L << 20) / bytes + 1, 1, 4096);
            using var buffer = new NativeBuffer(bytes * copies, zero: true);
            var weights = Enumerable.Range(0, copies).Select(c => new WeightMatrix(buffer.Pointer + (nint)(bytes * c), n, k, dtype, name)).ToArray();
            foreach (int m in ms)
            {
                var x = new float[m * k];
                var y = new float[m * n];
                int next = 0;
                void Call()
                {
                    Gemm.MatMulTransposed(x, m, weights[next], y);
                    next = next + 1 == copies ? 0 : next + 1;
                }
                var samples = new double[values.Length][];
                for (int v = 0; v < values.Length; v++) { samples[v] = new double[options.Reps]; apply(values[v]); Call(); }
                int batch = Math.Max(2, (int)(0.03 / Time(Call, 2)));
                for (int r = 0; r < options.Reps; r++)
                    for (int v = 0; v < values.Length; v++)
                    {
                        apply(values[v]);
                        samples[v][r] = Time(Call, batch);
                    }
                var cells = samples.Select(s => { Array.Sort(s); return $"{2.0 * m * n * k / s[s.Length / 2] / 1e9:F1}"; });
                Console.WriteLine($"| {name} | {m} | {string.Join(" | ", cells)} |");
            }
        }
    }

    private static double Time(Action call, int calls)
    {
        double start = Timing.Now();
        for (int i = 0; i < calls; i++) call();
        return (Timing.Now() - start) / calls;
    }
}
