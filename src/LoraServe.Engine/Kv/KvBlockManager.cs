namespace LoraServe.Engine.Kv;

/// <summary>
/// Which blocks of the paged KV cache are free and which sequence holds the rest (vLLM's block
/// manager, DESIGN §5). Blocks are handed out from a free stack; every block is at any time
/// either on the stack or in exactly one <see cref="BlockTable"/>, so FreeBlocks + the tables'
/// counts = TotalBlocks (tests check this after cancellations, preemptions and errors).
/// Admission of a new sequence keeps a watermark of free blocks in reserve so that running
/// sequences can keep decoding without being preempted right away; growing a running sequence
/// may use the reserve. Not thread-safe: the engine thread owns it.
/// </summary>
public sealed class KvBlockManager
{
    private readonly int[] _free;
    private int _freeCount;

    /// <param name="watermarkFraction">Share of the pool new admissions must leave free (vLLM default 0.01).</param>
    public KvBlockManager(int totalBlocks, int blockSize, double watermarkFraction = 0.01)
    {
        if (totalBlocks < 1) throw new ArgumentOutOfRangeException(nameof(totalBlocks), totalBlocks, "the KV pool needs at least one block");
        if (blockSize < 1) throw new ArgumentOutOfRangeException(nameof(blockSize), blockSize, "block size must be ≥ 1");
        if (!(watermarkFraction >= 0 && watermarkFraction < 1)) throw new ArgumentOutOfRangeException(nameof(watermarkFraction), watermarkFraction, "watermark must be in [0, 1)");
        TotalBlocks = totalBlocks;
        BlockSize = blockSize;
        WatermarkBlocks = (int)(watermarkFraction * totalBlocks);
        _free = new int[totalBlocks];
        // Pushed in reverse so block 0 is handed out first (easier to read in tests and dumps).
        for (int i = 0; i < totalBlocks; i++) _free[i] = totalBlocks - 1 - i;
        _freeCount = totalBlocks;
    }

    public int TotalBlocks { get; }
    public int BlockSize { get; }
    public int WatermarkBlocks { get; }
    public int FreeBlocks => _freeCount;
    public int UsedBlocks => TotalBlocks - _freeCount;

    /// <summary>Tokens the whole pool holds — the VTC bound's M (DESIGN §5.1).</summary>
    public int CapacityTokens => TotalBlocks * BlockSize;

    public double Usage => (double)UsedBlocks / TotalBlocks;

    public int BlocksFor(int tokens) => (tokens + BlockSize - 1) / BlockSize;

    /// <summary>Whether a new sequence whose KV will cover <paramref name="tokens"/> positions may be admitted now.</summary>
    public bool CanAllocate(int tokens) => BlocksFor(tokens) <= _freeCount - WatermarkBlocks;

    /// <summary>Whether a new sequence of <paramref name="tokens"/> positions could ever be admitted (on an empty pool).</summary>
    public bool CanEverAllocate(int tokens) => BlocksFor(tokens) <= TotalBlocks - WatermarkBlocks;

    /// <summary>Whether <paramref name="table"/> can be grown to cover <paramref name="tokens"/> positions (may dip into the watermark).</summary>
    public bool CanGrow(BlockTable table, int tokens) => BlocksFor(tokens) - table.Count <= _freeCount;

    /// <summary>Grows <paramref name="table"/> to cover <paramref name="tokens"/> positions; the caller checked <see cref="CanGrow"/>.</summary>
    public void Grow(BlockTable table, int tokens)
    {
        int needed = BlocksFor(tokens);
        if (needed - table.Count > _freeCount)
            throw new InvalidOperationException($"KV pool exhausted: need {needed - table.Count} more blocks, {_freeCount} free");
        if (needed > table.Blocks.Length) Array.Resize(ref table.Blocks, Math.Max(needed, table.Blocks.Length * 2));
        while (table.Count < needed) table.Blocks[table.Count++] = _free[--_freeCount];
    }

    /// <summary>Returns all of <paramref name="table"/>'s blocks to the pool (finish, cancel, preemption, error).</summary>
    public void Free(BlockTable table)
    {
        for (int i = table.Count - 1; i >= 0; i--) _free[_freeCount++] = table.Blocks[i];
        table.Count = 0;
    }
}
