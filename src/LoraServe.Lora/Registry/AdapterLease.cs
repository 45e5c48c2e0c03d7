using LoraServe.Lora.Adapters;

namespace LoraServe.Lora.Registry;

/// <summary>
/// A request's hold on a loaded adapter: while any lease is open the registry will not evict or
/// free it, even if the adapter is unloaded meanwhile. Dispose exactly once, when the request ends.
/// </summary>
public sealed class AdapterLease : IDisposable
{
    private readonly AdapterRegistry _registry;
    private int _released;

    internal AdapterLease(AdapterRegistry registry, LoraAdapter adapter)
    {
        _registry = registry;
        Adapter = adapter;
    }

    public LoraAdapter Adapter { get; }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0) _registry.Release(Adapter);
    }
}
