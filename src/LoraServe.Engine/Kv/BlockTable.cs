namespace LoraServe.Engine.Kv;

/// <summary>
/// One sequence's logical → physical KV block map. <see cref="Blocks"/> may be longer than
/// <see cref="Count"/> (it grows by doubling so decode does not allocate per block); the model
/// reads only the entries its positions need. Owned by the <see cref="KvBlockManager"/>.
/// </summary>
public sealed class BlockTable
{
    internal int[] Blocks = new int[4];

    /// <summary>Physical blocks held.</summary>
    public int Count { get; internal set; }

    /// <summary>The physical block ids array handed to the forward pass (valid entries: 0 … Count−1).</summary>
    public int[] Array => Blocks;

    public int this[int logical] => logical < Count ? Blocks[logical] : throw new ArgumentOutOfRangeException(nameof(logical));
}
