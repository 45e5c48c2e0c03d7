using LoraServe.Core.Tensors;

namespace LoraServe.Core.Kv;

/// <summary>
/// Paged key/value storage (vLLM's PagedAttention layout): a pool of fixed-size blocks shared by
/// all sequences; a sequence owns a block table mapping its logical block i (positions
/// i·BlockSize … i·BlockSize+BlockSize−1) to a physical block. Which blocks are free is the block
/// manager's business (Engine layer); this class only stores.
/// Layout, per layer and for K and V separately: (NumBlocks, BlockSize, NumKvHeads, HeadDim), in
/// <see cref="DType"/>: float32, or bfloat16 for a bf16 model (vLLM's kv_cache_dtype="auto": the
/// cache takes the model's dtype). A bf16 cache stores K and V rounded to nearest even and halves the
/// bytes decode attention reads; attention widens them back to float32 exactly.
/// </summary>
public sealed unsafe class PagedKvCache : IDisposable
{
    private readonly NativeBuffer _buffer;

    public PagedKvCache(int layers, int numBlocks, int blockSize, int numKvHeads, int headDim, DType dtype = DType.F32)
    {
        if (dtype is not (DType.F32 or DType.BF16))
            throw new ArgumentException($"KV cache dtype {dtype} is not supported (F32 or BF16)", nameof(dtype));
        if (layers <= 0 || numBlocks <= 0 || blockSize <= 0 || numKvHeads <= 0 || headDim <= 0)
            throw new ArgumentException($"invalid KV cache shape: layers={layers} blocks={numBlocks} blockSize={blockSize} kvHeads={numKvHeads} headDim={headDim}");
        Layers = layers;
        NumBlocks = numBlocks;
        BlockSize = blockSize;
        NumKvHeads = numKvHeads;
        HeadDim = headDim;
        DType = dtype;
        ElementSize = dtype.SizeInBytes();
        BlockStride = (long)blockSize * numKvHeads * headDim;
        // Zeroed up front: that commits every page now, so no decode step pays page faults (in a VM each
        // costs microseconds) when its new token's K/V lands on a page never written before.
        _buffer = new NativeBuffer(2L * layers * numBlocks * BlockStride * ElementSize, zero: true);
    }

    public int Layers { get; }
    public int NumBlocks { get; }
    public int BlockSize { get; }
    public int NumKvHeads { get; }
    public int HeadDim { get; }

    /// <summary>Element type of the stored K and V: F32 or BF16.</summary>
    public DType DType { get; }

    /// <summary>Bytes per stored element (4 for F32, 2 for BF16).</summary>
    public int ElementSize { get; }

    /// <summary>Elements in one block of K (or V) for one layer.</summary>
    public long BlockStride { get; }

    public long Bytes => _buffer.Bytes;

    /// <summary>Token rows (NumKvHeads·HeadDim elements) one sequence of <paramref name="tokens"/> tokens needs, in blocks.</summary>
    public int BlocksFor(int tokens) => (tokens + BlockSize - 1) / BlockSize;

    /// <summary>Address of the K (value=false) or V (value=true) row for (layer, physical block, slot), in a cache of either dtype.</summary>
    public void* RowAddress(int layer, bool value, int block, int slot)
    {
        if ((uint)layer >= (uint)Layers) throw new ArgumentOutOfRangeException(nameof(layer));
        if ((uint)block >= (uint)NumBlocks) throw new ArgumentOutOfRangeException(nameof(block), block, $"physical block outside 0..{NumBlocks - 1}");
        if ((uint)slot >= (uint)BlockSize) throw new ArgumentOutOfRangeException(nameof(slot));
        long plane = (long)(layer * 2 + (value ? 1 : 0)) * NumBlocks;
        return (byte*)_buffer.Pointer + ((plane + block) * BlockStride + (long)slot * NumKvHeads * HeadDim) * ElementSize;
    }

    /// <summary>The row of <see cref="RowAddress"/> as float32; only for an F32 cache.</summary>
    public float* Row(int layer, bool value, int block, int slot)
    {
        if (DType != DType.F32) throw new InvalidOperationException($"Row gives float32 rows; this KV cache stores {DType} (use RowAddress)");
        return (float*)RowAddress(layer, value, block, slot);
    }

    /// <summary>
    /// Stores K and V of consecutive tokens of one sequence. k, v: (tokens, NumKvHeads, HeadDim)
    /// for absolute positions startPosition … startPosition+tokens−1. A BF16 cache stores them rounded
    /// to nearest even.
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
            Store(k.Slice(t * rowLen, rowLen), RowAddress(layer, false, block, slot));
            Store(v.Slice(t * rowLen, rowLen), RowAddress(layer, true, block, slot));
        }
    }

    private void Store(ReadOnlySpan<float> row, void* destination)
    {
        if (DType == DType.F32)
        {
            row.CopyTo(new Span<float>(destination, row.Length));
            return;
        }
        BFloat16.FromSingle(row, new Span<ushort>(destination, row.Length));
    }

    public void Dispose() => _buffer.Dispose();
}
