using LoraServe.Models.Llama;

namespace LoraServe.Lora.Adapters;

/// <summary>
/// A loaded LoRA adapter: its modules indexed by (layer, projection). Immutable once built, so
/// any number of forward steps may read it concurrently.
/// </summary>
public sealed class LoraAdapter
{
    private readonly LoraModule?[] _modules;

    public LoraAdapter(string name, int numLayers, IEnumerable<LoraModule> modules, string? sourceDirectory = null)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("adapter name must not be empty", nameof(name));
        Name = name;
        NumLayers = numLayers;
        SourceDirectory = sourceDirectory;
        _modules = new LoraModule?[numLayers * LinearKinds.All.Length];
        var kinds = new HashSet<LinearKind>();
        foreach (var m in modules)
        {
            if ((uint)m.Layer >= (uint)numLayers) throw new ArgumentException($"adapter '{name}': module for layer {m.Layer} but the model has {numLayers} layers");
            ref var slot = ref _modules[Index(m.Layer, m.Kind)];
            if (slot is not null) throw new ArgumentException($"adapter '{name}': two modules for layer {m.Layer} {m.Kind.ModuleName()}");
            slot = m;
            ModuleCount++;
            ByteCount += m.ByteCount;
            MaxRank = Math.Max(MaxRank, m.Rank);
            kinds.Add(m.Kind);
        }
        if (ModuleCount == 0) throw new ArgumentException($"adapter '{name}' has no LoRA modules");
        TargetKinds = kinds;
    }

    public string Name { get; }
    public int NumLayers { get; }
    public string? SourceDirectory { get; }
    public int ModuleCount { get; }
    public int MaxRank { get; }

    /// <summary>Host memory the adapter's A and B matrices occupy.</summary>
    public long ByteCount { get; }

    public IReadOnlySet<LinearKind> TargetKinds { get; }

    public LoraModule? Module(int layer, LinearKind kind) => _modules[Index(layer, kind)];

    public IEnumerable<LoraModule> Modules
    {
        get
        {
            foreach (var m in _modules) if (m is not null) yield return m;
        }
    }

    private static int Index(int layer, LinearKind kind) => layer * LinearKinds.All.Length + (int)kind;
}
