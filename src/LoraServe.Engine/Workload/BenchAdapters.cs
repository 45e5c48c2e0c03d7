using LoraServe.Lora.Adapters;
using LoraServe.Models.Config;
using LoraServe.Models.Llama;

namespace LoraServe.Engine.Workload;

/// <summary>
/// Random LoRA adapters for a bench run, written as real PEFT directories (PeftAdapterWriter) so
/// the engine loads them through the registry exactly as it would trained ones.
/// </summary>
public static class BenchAdapters
{
    public static void WriteRandom(string directory, string name, ModelConfig config, int rank, int seed) =>
        PeftAdapterWriter.Write(directory, CreateRandom(config, name, rank, LinearKinds.All, seed), 2.0 * rank, useRsLora: false, "bench-base");

    /// <summary>A random adapter of <paramref name="rank"/> on <paramref name="kinds"/> of every layer, α = 2r (held in memory).</summary>
    public static LoraAdapter CreateRandom(ModelConfig config, string name, int rank, IReadOnlyList<LinearKind> kinds, int seed)
    {
        var rng = new Random(seed);
        var modules = new List<LoraModule>();
        for (int l = 0; l < config.NumLayers; l++)
            foreach (var kind in kinds)
            {
                var (outDim, inDim) = kind.Shape(config);
                var a = new float[rank * inDim];
                var b = new float[outDim * rank];
                for (int i = 0; i < a.Length; i++) a[i] = (float)((rng.NextDouble() * 2 - 1) / Math.Sqrt(inDim));
                for (int i = 0; i < b.Length; i++) b[i] = (float)((rng.NextDouble() * 2 - 1) / Math.Sqrt(rank));
                modules.Add(new LoraModule(l, kind, a, b, rank, inDim, outDim, LoraModule.ScaleFor(2.0 * rank, rank, false)));
            }
        return new LoraAdapter(name, config.NumLayers, modules);
    }
}
