using System.Threading.Channels;
using LoraServe.Core.Kernels;
using LoraServe.Engine.Requests;
using LoraServe.Lora.Adapters;
using LoraServe.Lora.Execution;
using LoraServe.Lora.Registry;
using LoraServe.Models.Config;
using LoraServe.Models.Llama;
using LoraServe.Testing;

namespace LoraServe.Engine.Tests.Support;

/// <summary>Tiny random models and adapters for engine tests, and an independent one-sequence greedy loop.</summary>
internal static class TestModels
{
    public static ModelConfig Config { get; } = InMemoryModel.TinyConfig(vocab: 97);

    public static (InMemoryModel Weights, LlamaModel Model) Create(int seed = 7)
    {
        var weights = new InMemoryModel(Config, seed);
        return (weights, new LlamaModel(weights.Weights));
    }

    public static LoraAdapter RandomAdapter(string name, int rank, int seed)
    {
        var rng = new Random(seed);
        var modules = new List<LoraModule>();
        var c = Config;
        for (int l = 0; l < c.NumLayers; l++)
            foreach (var kind in LinearKinds.All)
            {
                var (outDim, inDim) = kind.Shape(c);
                // B not zero (a trained adapter's is not) and large enough to change greedy choices.
                var a = Rand(rng, rank * inDim, 1 / Math.Sqrt(inDim));
                var b = Rand(rng, outDim * rank, 1.5 / Math.Sqrt(rank));
                modules.Add(new LoraModule(l, kind, a, b, rank, inDim, outDim, LoraModule.ScaleFor(2 * rank, rank, false)));
            }
        return new LoraAdapter(name, c.NumLayers, modules);
    }

    /// <summary>A registry serving in-memory adapters under their names (the loader ignores the directory).</summary>
    public static AdapterRegistry Registry(params LoraAdapter[] adapters)
    {
        var byName = adapters.ToDictionary(a => a.Name);
        var registry = new AdapterRegistry(Config, new AdapterRegistryOptions(), (_, name, _) => byName[name]);
        foreach (var a in adapters) registry.Register(a.Name, Path.Combine(Path.GetTempPath(), "in-memory-adapter-" + a.Name));
        return registry;
    }

    public static int[] Prompt(int length, int seed)
    {
        var rng = new Random(seed);
        var p = new int[length];
        for (int i = 0; i < length; i++) p[i] = rng.Next(Config.VocabSize);
        return p;
    }

    /// <summary>
    /// One sequence, one token per step after the prefill, on its own cache — the shape of
    /// SingleSequenceGenerator, plus an adapter applied to every row (which that class has no seam for).
    /// </summary>
    public static int[] GreedyAlone(LlamaModel model, IReadOnlyList<int> prompt, int maxTokens, LoraAdapter? adapter)
    {
        int total = prompt.Count + maxTokens, blockSize = 16, blocks = (total + blockSize - 1) / blockSize;
        using var cache = model.CreateKvCache(blocks, blockSize);
        var table = Enumerable.Range(0, blocks).ToArray();
        var logits = new float[model.Config.VocabSize];
        var delta = new SegmentedLoraDelta();
        var output = new List<int>();
        int[] step = [.. prompt];
        int position = 0;
        for (int i = 0; i < maxTokens; i++)
        {
            ILinearDelta? d = null;
            if (adapter is not null)
            {
                delta.Configure(Enumerable.Repeat<LoraAdapter?>(adapter, step.Length).ToArray());
                d = delta;
            }
            model.Forward(new ForwardBatch(step, [new AttentionSequence(0, step.Length, position, table)], [step.Length - 1]) { Delta = d }, cache, logits);
            position += step.Length;
            int token = Sampler.ArgMax(logits);
            output.Add(token);
            step = [token];
        }
        return [.. output];
    }

    /// <summary>Everything a finished request's channel holds.</summary>
    public static List<TokenEvent> Drain(ChannelReader<TokenEvent> reader)
    {
        var events = new List<TokenEvent>();
        while (reader.TryRead(out var e)) events.Add(e);
        return events;
    }

    private static float[] Rand(Random rng, int n, double scale)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        return a;
    }
}
