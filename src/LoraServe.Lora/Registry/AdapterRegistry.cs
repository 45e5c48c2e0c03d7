using LoraServe.Lora.Adapters;
using LoraServe.Models.Config;

namespace LoraServe.Lora.Registry;

/// <summary>
/// Adapter names → directories, plus the host-memory cache of loaded adapters (DESIGN §4 memory
/// tiers): bounded in count (--max-cpu-loras) and bytes, least-recently-used eviction, and pinning:
/// an adapter with open <see cref="AdapterLease"/>s is never evicted or freed, and one unloaded while
/// in use is dropped when its last lease closes. Thread-safe; disk reads happen outside the lock.
/// </summary>
public sealed class AdapterRegistry
{
    private readonly object _gate = new();
    private readonly ModelConfig _model;
    private readonly Func<string, string, ModelConfig, LoraAdapter> _load;
    private readonly Dictionary<string, string> _directories = new(StringComparer.Ordinal);
    private readonly Dictionary<string, CacheEntry> _cache = new(StringComparer.Ordinal);
    private readonly Dictionary<LoraAdapter, CacheEntry> _byAdapter = new(ReferenceEqualityComparer.Instance);
    private long _useClock;

    private sealed class CacheEntry(LoraAdapter adapter)
    {
        public LoraAdapter Adapter { get; } = adapter;
        public int Pins;
        public long LastUse;
        public bool Detached; // unregistered or evicted while pinned: freed at the last release
    }

    public AdapterRegistry(ModelConfig model, AdapterRegistryOptions? options = null, Func<string, string, ModelConfig, LoraAdapter>? load = null)
    {
        _model = model;
        Options = options ?? new AdapterRegistryOptions();
        if (Options.MaxCpuLoras < 1) throw new ArgumentException($"max CPU LoRAs must be ≥ 1, got {Options.MaxCpuLoras}");
        if (Options.MaxCacheBytes < 1) throw new ArgumentException($"adapter cache budget must be ≥ 1 byte, got {Options.MaxCacheBytes}");
        _load = load ?? ((dir, name, cfg) => PeftAdapterLoader.Load(dir, name, cfg));
    }

    public AdapterRegistryOptions Options { get; }

    /// <summary>Raised (under the registry's lock) when an adapter leaves host memory for good.</summary>
    public event Action<LoraAdapter>? Freed;

    /// <summary>Bytes of adapters held in host memory, pinned ones detached from the cache included.</summary>
    public long CachedBytes { get; private set; }

    /// <summary>Adapters held in host memory (pinned, detached ones included).</summary>
    public int CachedCount { get; private set; }

    public IReadOnlyList<string> Names
    {
        get { lock (_gate) return [.. _directories.Keys]; }
    }

    public bool IsRegistered(string name)
    {
        lock (_gate) return _directories.ContainsKey(name);
    }

    /// <summary>Registers <paramref name="name"/> → <paramref name="directory"/> without loading it.</summary>
    public void Register(string name, string directory)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("adapter name must not be empty", nameof(name));
        lock (_gate)
        {
            if (_directories.ContainsKey(name)) throw new ArgumentException($"adapter '{name}' is already registered");
            _directories[name] = Path.GetFullPath(directory);
        }
    }

    /// <summary>Registers and loads at once, validating the adapter (vLLM's load_lora_adapter).</summary>
    public void RegisterAndLoad(string name, string directory)
    {
        Register(name, directory);
        try
        {
            Acquire(name).Dispose();
        }
        catch
        {
            Unregister(name);
            throw;
        }
    }

    /// <summary>Forgets <paramref name="name"/>; its memory is returned now, or when its last lease closes.</summary>
    public bool Unregister(string name)
    {
        lock (_gate)
        {
            if (!_directories.Remove(name)) return false;
            if (_cache.Remove(name, out var entry)) Detach(entry);
            return true;
        }
    }

    /// <summary>The loaded adapter for <paramref name="name"/>, pinned until the lease is disposed.</summary>
    public AdapterLease Acquire(string name)
    {
        string directory;
        lock (_gate)
        {
            if (!_directories.TryGetValue(name, out directory!)) throw new AdapterNotFoundException(name);
            if (_cache.TryGetValue(name, out var hit)) return Pin(hit);
        }

        var adapter = _load(directory, name, _model);
        if (adapter.MaxRank > Options.MaxLoraRank)
            throw new ArgumentException($"adapter '{name}' has rank {adapter.MaxRank}, above --max-lora-rank {Options.MaxLoraRank}");

        lock (_gate)
        {
            // Unregistered, or re-registered elsewhere, while we read the disk: the caller asked for a name that is gone.
            if (!_directories.TryGetValue(name, out var now) || now != directory) throw new AdapterNotFoundException(name);
            if (_cache.TryGetValue(name, out var raced)) return Pin(raced);
            MakeRoom(adapter);
            var entry = new CacheEntry(adapter);
            _cache[name] = entry;
            _byAdapter[adapter] = entry;
            CachedBytes += adapter.ByteCount;
            CachedCount++;
            return Pin(entry);
        }
    }

    internal void Release(LoraAdapter adapter)
    {
        lock (_gate)
        {
            var entry = _byAdapter[adapter];
            entry.Pins--;
            if (entry.Pins == 0 && entry.Detached) Free(entry);
        }
    }

    private AdapterLease Pin(CacheEntry entry)
    {
        entry.Pins++;
        entry.LastUse = ++_useClock;
        return new AdapterLease(this, entry.Adapter);
    }

    private void MakeRoom(LoraAdapter incoming)
    {
        while (CachedCount + 1 > Options.MaxCpuLoras || CachedBytes + incoming.ByteCount > Options.MaxCacheBytes)
        {
            CacheEntry? victim = null;
            foreach (var e in _cache.Values)
                if (e.Pins == 0 && (victim is null || e.LastUse < victim.LastUse)) victim = e;
            if (victim is null)
                throw new AdapterCacheFullException(
                    $"cannot load adapter '{incoming.Name}' ({incoming.ByteCount} bytes): the host adapter cache holds {CachedCount} adapters, {CachedBytes} of {Options.MaxCacheBytes} bytes (max {Options.MaxCpuLoras} adapters), all in use by running requests");
            _cache.Remove(victim.Adapter.Name);
            Detach(victim);
        }
    }

    private void Detach(CacheEntry entry)
    {
        entry.Detached = true;
        if (entry.Pins == 0) Free(entry);
    }

    private void Free(CacheEntry entry)
    {
        _byAdapter.Remove(entry.Adapter);
        CachedBytes -= entry.Adapter.ByteCount;
        CachedCount--;
        Freed?.Invoke(entry.Adapter);
    }
}
