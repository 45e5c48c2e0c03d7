using LoraServe.Lora.Adapters;
using LoraServe.Models.Config;
using LoraServe.Models.Llama;
using LoraServe.Testing;

namespace LoraServe.Lora.Tests;

/// <summary>Random adapters, held both as <see cref="LoraAdapter"/> and as reference-forward modules.</summary>
internal static class RandomAdapters
{
    public static (LoraAdapter Adapter, Dictionary<(int, LinearKind), ReferenceLoraModule> Reference) Create(
        ModelConfig c, string name, int rank, LinearKind[] kinds, double alpha, bool rsLora, int seed)
    {
        var rng = new Random(seed);
        var modules = new List<LoraModule>();
        var reference = new Dictionary<(int, LinearKind), ReferenceLoraModule>();
        for (int l = 0; l < c.NumLayers; l++)
            foreach (var kind in kinds)
            {
                var (outDim, inDim) = kind.Shape(c);
                // B is not zero here (a trained adapter's B is not): the delta must show in the output.
                var a = Rand(rng, rank * inDim, 1 / Math.Sqrt(inDim));
                var b = Rand(rng, outDim * rank, 1 / Math.Sqrt(rank));
                float scale = LoraModule.ScaleFor(alpha, rank, rsLora);
                modules.Add(new LoraModule(l, kind, a, b, rank, inDim, outDim, scale));
                reference[(l, kind)] = new ReferenceLoraModule(a, b, rank, rsLora ? alpha / Math.Sqrt(rank) : alpha / rank);
            }
        return (new LoraAdapter(name, c.NumLayers, modules), reference);
    }

    private static float[] Rand(Random rng, int n, double scale)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        return a;
    }
}
