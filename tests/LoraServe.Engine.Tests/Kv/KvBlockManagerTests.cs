using LoraServe.Engine.Kv;

namespace LoraServe.Engine.Tests.Kv;

public sealed class KvBlockManagerTests
{
    [Fact]
    public void Admission_keeps_the_watermark_free_but_running_sequences_may_use_it()
    {
        var kv = new KvBlockManager(totalBlocks: 100, blockSize: 16, watermarkFraction: 0.05);
        Assert.Equal(5, kv.WatermarkBlocks);
        Assert.True(kv.CanAllocate(95 * 16));
        Assert.False(kv.CanAllocate(95 * 16 + 1));
        var t = new BlockTable();
        kv.Grow(t, 95 * 16);
        Assert.True(kv.CanGrow(t, 100 * 16));
        kv.Grow(t, 100 * 16);
        Assert.Equal(0, kv.FreeBlocks);
        Assert.False(kv.CanGrow(t, 100 * 16 + 1));
        Assert.Throws<InvalidOperationException>(() => kv.Grow(t, 100 * 16 + 1));
    }

    [Fact]
    public void Blocks_are_never_shared_and_all_return_after_free()
    {
        var kv = new KvBlockManager(64, 4, 0);
        var rng = new Random(1);
        var tables = Enumerable.Range(0, 8).Select(_ => new BlockTable()).ToArray();
        var tokens = new int[8];
        for (int round = 0; round < 2000; round++)
        {
            int i = rng.Next(8);
            if (rng.Next(5) == 0) { kv.Free(tables[i]); tokens[i] = 0; }
            else if (kv.CanGrow(tables[i], tokens[i] + 3)) kv.Grow(tables[i], tokens[i] += 3);
            var owned = tables.SelectMany(t => Enumerable.Range(0, t.Count).Select(b => t[b])).ToArray();
            Assert.Equal(owned.Length, owned.Distinct().Count());
            Assert.Equal(kv.TotalBlocks, kv.FreeBlocks + owned.Length);
            Assert.All(owned, b => Assert.InRange(b, 0, 63));
        }
        foreach (var t in tables) kv.Free(t);
        Assert.Equal(kv.TotalBlocks, kv.FreeBlocks);
    }
}
