using LoraServe.Lora.Adapters;
using LoraServe.Models.Config;
using LoraServe.Models.Llama;

namespace LoraServe.Training.Model;

/// <summary>
/// The trainable LoRA modules of one adapter, indexed by (layer, projection), in a fixed order
/// (layer, then projection) that the optimizer, clipping and checkpoints all follow.
/// </summary>
public sealed class LoraSet
{
    private readonly LoraFactors?[] _byIndex;

    public LoraSet(ModelConfig config, IReadOnlyCollection<LinearKind> targets, int rank, double alpha, bool useRsLora)
    {
        if (targets.Count == 0) throw new ArgumentException("no target modules", nameof(targets));
        Rank = rank;
        Alpha = alpha;
        UseRsLora = useRsLora;
        Targets = LinearKinds.All.Where(targets.Contains).ToArray();
        float scale = LoraModule.ScaleFor(alpha, rank, useRsLora);
        _byIndex = new LoraFactors?[config.NumLayers * LinearKinds.All.Length];
        var modules = new List<LoraFactors>();
        for (int l = 0; l < config.NumLayers; l++)
            foreach (var kind in Targets)
            {
                var (outDim, inDim) = kind.Shape(config);
                var m = new LoraFactors(l, kind, rank, inDim, outDim, scale);
                _byIndex[l * LinearKinds.All.Length + (int)kind] = m;
                modules.Add(m);
            }
        Modules = modules;
        NumLayers = config.NumLayers;
    }

    public int Rank { get; }
    public double Alpha { get; }
    public bool UseRsLora { get; }
    public int NumLayers { get; }
    public IReadOnlyList<LinearKind> Targets { get; }
    public IReadOnlyList<LoraFactors> Modules { get; }

    public LoraFactors? Get(int layer, LinearKind kind) => _byIndex[layer * LinearKinds.All.Length + (int)kind];

    public long ParameterCount => Modules.Sum(m => (long)m.A.Length + m.B.Length);

    /// <summary>A, then B, per module, under PEFT's tensor names.</summary>
    public IReadOnlyList<TrainableTensor> Tensors()
    {
        var list = new List<TrainableTensor>(Modules.Count * 2);
        foreach (var m in Modules)
        {
            list.Add(new TrainableTensor(m.PeftPrefix + ".lora_A.weight", m.A, m.GradA, [m.Rank, m.InFeatures]));
            list.Add(new TrainableTensor(m.PeftPrefix + ".lora_B.weight", m.B, m.GradB, [m.OutFeatures, m.Rank]));
        }
        return list;
    }

    /// <summary>A snapshot as an engine <see cref="LoraAdapter"/> (copies, so training can go on).</summary>
    public LoraAdapter ToAdapter(string name) =>
        new(name, NumLayers, Modules.Select(m => new LoraModule(m.Layer, m.Kind, (float[])m.A.Clone(), (float[])m.B.Clone(), m.Rank, m.InFeatures, m.OutFeatures, m.Scale)));

    /// <summary>Copies A and B from a loaded adapter with the same layout (resume, or continue training).</summary>
    public void LoadFrom(LoraAdapter adapter)
    {
        foreach (var m in Modules)
        {
            var src = adapter.Module(m.Layer, m.Kind) ?? throw new ArgumentException($"adapter '{adapter.Name}' has no module for layer {m.Layer} {m.Kind.ModuleName()}");
            if (src.Rank != m.Rank) throw new ArgumentException($"adapter '{adapter.Name}' layer {m.Layer} {m.Kind.ModuleName()} has rank {src.Rank}, expected {m.Rank}");
            src.A.CopyTo(m.A, 0);
            src.B.CopyTo(m.B, 0);
        }
        if (adapter.ModuleCount != Modules.Count) throw new ArgumentException($"adapter '{adapter.Name}' has {adapter.ModuleCount} modules, expected {Modules.Count}");
    }
}
