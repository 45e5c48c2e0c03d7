using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using LoraServe.Lora.Adapters;
using LoraServe.Lora.Registry;
using LoraServe.Models.Config;
using LoraServe.Models.Llama;
using LoraServe.Testing;

namespace LoraServe.Lora.Tests.Registry;

public class AdapterRegistryTests
{
    private static readonly ModelConfig Config = InMemoryModel.TinyConfig(layers: 1);

    /// <summary>A loader that fabricates an adapter whose rank is encoded in the "directory" name ("/r4").</summary>
    private static LoraAdapter FakeLoad(string directory, string name, ModelConfig c)
    {
        int rank = int.Parse(Path.GetFileName(directory)[1..]);
        var (outDim, inDim) = LinearKind.Q.Shape(c);
        return new LoraAdapter(name, c.NumLayers, [new LoraModule(0, LinearKind.Q, new float[rank * inDim], new float[outDim * rank], rank, inDim, outDim, 1)]);
    }

    private static long BytesOfRank(int rank) => (long)rank * (48 + 48) * sizeof(float);

    [Fact]
    public void Least_recently_used_unpinned_adapter_is_evicted_when_the_count_bound_is_reached()
    {
        var freed = new List<string>();
        var registry = new AdapterRegistry(Config, new AdapterRegistryOptions { MaxCpuLoras = 2 }, FakeLoad);
        registry.Freed += a => freed.Add(a.Name);
        foreach (var n in new[] { "a", "b", "c" }) registry.Register(n, "/r2");
        registry.Acquire("a").Dispose();
        registry.Acquire("b").Dispose();
        registry.Acquire("a").Dispose(); // a is now more recent than b
        registry.Acquire("c").Dispose();
        Assert.Equal(["b"], freed);
        Assert.Equal(2, registry.CachedCount);
    }

    [Fact]
    public void Pinned_adapters_are_never_evicted_and_a_full_cache_says_so()
    {
        var registry = new AdapterRegistry(Config, new AdapterRegistryOptions { MaxCacheBytes = BytesOfRank(4) * 2 }, FakeLoad);
        foreach (var n in new[] { "a", "b", "c" }) registry.Register(n, "/r4");
        using var a = registry.Acquire("a");
        using var b = registry.Acquire("b");
        var e = Assert.Throws<AdapterCacheFullException>(() => registry.Acquire("c"));
        Assert.Contains("'c'", e.Message);
        Assert.Contains("all in use", e.Message);
        Assert.Equal(2, registry.CachedCount);
    }

    [Fact]
    public void Unregistering_an_adapter_in_use_frees_it_only_after_the_last_lease_and_really_returns_the_memory()
    {
        var registry = new AdapterRegistry(Config, null, FakeLoad);
        registry.Register("a", "/r8");
        var weak = UseWhileUnregistering(registry);
        Assert.Equal(0, registry.CachedBytes);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.False(weak.TryGetTarget(out _), "the unloaded adapter is still reachable");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference<LoraAdapter> UseWhileUnregistering(AdapterRegistry registry)
    {
        var lease = registry.Acquire("a");
        Assert.True(registry.Unregister("a"));
        Assert.Equal(BytesOfRank(8), registry.CachedBytes); // still held by the running request
        Assert.NotNull(lease.Adapter.Module(0, LinearKind.Q));
        Assert.Throws<AdapterNotFoundException>(() => registry.Acquire("a"));
        var weak = new WeakReference<LoraAdapter>(lease.Adapter);
        lease.Dispose();
        return weak;
    }

    [Fact]
    public void Adapters_above_max_lora_rank_are_refused_and_not_cached()
    {
        var registry = new AdapterRegistry(Config, new AdapterRegistryOptions { MaxLoraRank = 4 }, FakeLoad);
        var e = Assert.Throws<ArgumentException>(() => registry.RegisterAndLoad("big", "/r8"));
        Assert.Contains("rank 8", e.Message);
        Assert.Contains("--max-lora-rank 4", e.Message);
        Assert.False(registry.IsRegistered("big"));
        Assert.Equal(0, registry.CachedCount);
    }

    [Fact]
    public void Concurrent_load_use_unload_never_exceeds_the_budget_nor_frees_an_adapter_in_use()
    {
        long budget = BytesOfRank(16) * 3;
        var registry = new AdapterRegistry(Config, new AdapterRegistryOptions { MaxCacheBytes = budget, MaxCpuLoras = 4 }, FakeLoad);
        var inUse = new ConcurrentDictionary<LoraAdapter, int>(ReferenceEqualityComparer.Instance);
        int violations = 0, overBudget = 0, served = 0;
        registry.Freed += a => { if (inUse.TryGetValue(a, out int n) && n > 0) Interlocked.Increment(ref violations); };
        int[] ranks = [1, 2, 4, 8, 16];
        for (int i = 0; i < 12; i++) registry.Register($"a{i}", $"/r{ranks[i % ranks.Length]}");

        var deadline = DateTime.UtcNow.AddSeconds(2);
        var threads = Enumerable.Range(0, 6).Select(t => new Thread(() =>
        {
            var rng = new Random(t);
            while (DateTime.UtcNow < deadline)
            {
                string name = $"a{rng.Next(12)}";
                if (t == 0 && rng.Next(4) == 0)
                {
                    // The admin thread unloads and reloads adapters while requests run.
                    if (registry.Unregister(name)) registry.Register(name, $"/r{ranks[rng.Next(ranks.Length)]}");
                    continue;
                }
                AdapterLease lease;
                try { lease = registry.Acquire(name); }
                catch (AdapterCacheFullException) { continue; }
                catch (AdapterNotFoundException) { continue; }
                inUse.AddOrUpdate(lease.Adapter, 1, (_, n) => n + 1);
                if (registry.CachedBytes > budget) Interlocked.Increment(ref overBudget);
                Thread.SpinWait(rng.Next(2000));
                Assert.Equal(name, lease.Adapter.Name);
                inUse.AddOrUpdate(lease.Adapter, 0, (_, n) => n - 1);
                lease.Dispose();
                Interlocked.Increment(ref served);
            }
        })).ToList();
        threads.ForEach(th => th.Start());
        threads.ForEach(th => th.Join());

        Assert.True(served > 100, $"only {served} requests served");
        Assert.Equal(0, violations);
        Assert.Equal(0, overBudget);
        Assert.True(registry.CachedBytes <= budget);
        Assert.True(registry.CachedCount <= 4);
    }
}
