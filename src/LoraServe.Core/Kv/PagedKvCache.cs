using LoraServe.Core.Tensors;

namespace LoraServe.Core.Kv;

/// <summary>
/// Paged key/value storage (vLLM's PagedAttention layout): a pool of fixed-size blocks shared by
/// all sequences; a sequence owns a block table mapping its logical block i (positions
/// i·BlockSize … i·BlockSize+BlockSize−1) to a physical block. Which blocks are free is the block
/// manager's business (Engine layer); this class only stores.
/// Layout, per layer and for K and V separately: (NumBlocks, BlockSize, NumKvHeads, HeadDim), float32.
/// </summary>
public sealed unsafe class PagedKvCache : IDisposable
{
    private readonly NativeBuffer _buffer;

    public PagedKvCache(int layers, int numBlocks, int blockSize, int numKvHeads, int headDim)
    {
        if (layers <= 0 || numBlocks <= 0 || blockSize <= 0 || numKvHeads <= 0 || headDim <= 0)
            throw new ArgumentException($"invalid KV cache shape: layers={layers} blocks={numBlocks} blockSize={blockSize} kvHeads={numKvHeads} headDim={headDim}");
        Layers = layers;
        NumBlocks = numBlocks;
        BlockSize = blockSize;
        NumKvHeads = numKvHeads;
        HeadDim = headDim;
        BlockStride = (long)blockSize * numKvHeads * headDim;
        // Zeroed up front: that commits every page now, so no decode step pays page faults (in a VM each
        // costs microseconds) when its new token's K/V lands on a page never written before.
        _buffer = new NativeBuffer(2L * layers * numBlocks * BlockStride * sizeof(float), zero: true);
    }

    public int Layers { get; }
    public int NumBlocks { get; }
    public int BlockSize { get; }
    public int NumKvHeads { get; }
    public int HeadDim { get; }

    /// <summary>Floats in one block of K (or V) for one layer.</summary>
    public long BlockStride { get; }

    public long Bytes => _buffer.Bytes;

    /// <summary>Token rows (NumKvHeads·HeadDim floats) one sequence of <paramref name="tokens"/> tokens needs, in blocks.</summary>
    public int BlocksFor(int tokens) => (tokens + BlockSize - 1) / BlockSize;

    /// <summary>Address of the K (value=false) or V (value=true) row for (layer, physical block, slot).</summary>
    public float* Row(int layer, bool value, int block, int slot)
    {
        if ((uint)layer >= (uint)Layers) throw new ArgumentOutOfRangeException(nameof(layer));
        if ((uint)block >= (uint)NumBlocks) throw new ArgumentOutOfRangeException(nameof(block), block, $"physical block outside 0..{NumBlocks - 1}");
        if ((uint)slot >= (uint)BlockSize) throw new ArgumentOutOfRangeException(nameof(slot));
        long plane = (long)(layer * 2 + (value ? 1 : 0)) * NumBlocks;
        return (float*)_buffer.Pointer + (plane + block) * BlockStride + (long)slot * NumKvHeads * HeadDim;
    }

    /// <summary>
    /// Stores K and V of consecutive tokens of one sequence. k, v: (tokens, NumKvHeads, HeadDim)
    /// for absolute positions startPosition … startPosition+tokens−1.
    /// </summary>
    public void Write(int layer, ReadOnlySpan<int> blockTable, int startPosition, ReadOnlySpan<float> k, ReadOnlySpan<float> v, int tokens)
    {
        int rowLen = NumKvHeads * HeadDim;
        for (int t = 0; t < tokens; t++)
        {
            int pos = startPosition + t;
            int logical = pos / BlockSize;
            if (logical >= blockTable.Length) throw new ArgumentException($"position {pos} needs logical block {logical}, block table has {blockTable.Length}");
            int block = blockTable[logical], slot = pos % BlockSize;
            k.Slice(t * rowLen, rowLen).CopyTo(new Span<float>(Row(layer, false, block, slot), rowLen));
            v.Slice(t * rowLen, rowLen).CopyTo(new Span<float>(Row(layer, true, block, slot), rowLen));
        }
    }

    public void Dispose() => _buffer.Dispose();
}
