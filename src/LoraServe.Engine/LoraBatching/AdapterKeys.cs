using System.Runtime.CompilerServices;
using LoraServe.Lora.Adapters;

namespace LoraServe.Engine.LoraBatching;

/// <summary>
/// The key a LoRA policy knows an adapter by, and its cost profile, cached per adapter instance.
/// The key is the adapter's name; a later, different instance under a name already seen (an
/// adapter unloaded and loaded again while requests of the old one still run) gets "name#2", …,
/// so a merged plan never mixes two instances that share a name.
/// </summary>
public sealed class AdapterKeys
{
    private readonly ConditionalWeakTable<LoraAdapter, Entry> _entries = [];
    private readonly Dictionary<string, int> _instancesPerName = new(StringComparer.Ordinal);

    private sealed record Entry(string Key, AdapterProfile Profile);

    public LoraCandidate Candidate(LoraAdapter? adapter, int tokens, int remainingSteps = 0, long waitingWork = 0)
    {
        if (adapter is null) return new LoraCandidate(null, tokens, default, remainingSteps);
        var e = EntryOf(adapter);
        return new LoraCandidate(e.Key, tokens, e.Profile, remainingSteps, waitingWork);
    }

    public string KeyOf(LoraAdapter adapter) => EntryOf(adapter).Key;

    public AdapterProfile ProfileOf(LoraAdapter adapter) => EntryOf(adapter).Profile;

    private Entry EntryOf(LoraAdapter adapter)
    {
        if (_entries.TryGetValue(adapter, out var e)) return e;
        int n = _instancesPerName.GetValueOrDefault(adapter.Name) + 1;
        _instancesPerName[adapter.Name] = n;
        e = new Entry(n == 1 ? adapter.Name : $"{adapter.Name}#{n}", AdapterProfile.Of(adapter));
        _entries.Add(adapter, e);
        return e;
    }
}
