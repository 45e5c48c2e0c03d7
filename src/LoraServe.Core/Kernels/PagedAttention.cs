using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using LoraServe.Core.Kv;
using LoraServe.Core.Threading;

namespace LoraServe.Core.Kernels;

/// <summary>
/// Causal multi-head attention of new tokens against a paged KV cache, with grouped-query
/// heads (query head h reads KV head h / (nHeads / nKvHeads), as HF's repeat_kv does).
///
/// Work items are (sequence, token, query head), spread over the kernel pool. Each item streams
/// its keys in chunks of <see cref="Chunk"/>: scores of a chunk, then the online-softmax update
/// (FlashAttention's rescaling: running max m and sum l; when m grows, the partial output and l are
/// scaled by exp(m_old − m_new)), so no score row of context length is ever stored and nothing is
/// allocated. The sequences' block tables are copied into per-thread native scratch once per call so
/// that workers read plain memory.
/// </summary>
public static unsafe class PagedAttention
{
    private const int Chunk = 32;
    private const int MaxStackHeadDim = 1024;
    private const int DescriptorInts = 5;

    /// <summary>
    /// q, output: (totalTokens, nHeads, headDim). Each token at position p attends to positions
    /// max(0, p − slidingWindow + 1) … p of its own sequence (slidingWindow 0 = unlimited).
    /// </summary>
    public static void Forward(ReadOnlySpan<float> q, ReadOnlySpan<AttentionSequence> sequences, PagedKvCache cache, int layer,
        int nHeads, float scale, Span<float> output, int slidingWindow = 0)
    {
        ArgumentNullException.ThrowIfNull(cache);
        int hd = cache.HeadDim;
        if (nHeads <= 0 || nHeads % cache.NumKvHeads != 0) Throw($"nHeads {nHeads} is not a positive multiple of the cache's {cache.NumKvHeads} KV heads");
        if ((uint)layer >= (uint)cache.Layers) Throw($"layer {layer} outside 0..{cache.Layers - 1}");
        if (slidingWindow < 0) Throw($"slidingWindow must be ≥ 0, got {slidingWindow}");
        if (hd > MaxStackHeadDim) Throw($"head_dim {hd} above the supported {MaxStackHeadDim}");

        int totalTokens = 0, tableInts = 0;
        foreach (var s in sequences)
        {
            if (s.TokenCount < 0 || s.TokenOffset < 0 || s.StartPosition < 0) Throw($"invalid sequence {s}");
            if (s.BlockTable is null) Throw("a sequence has no block table");
            int last = s.StartPosition + s.TokenCount - 1;
            if (s.TokenCount > 0 && last / cache.BlockSize >= s.BlockTable.Length)
                Throw($"position {last} needs logical block {last / cache.BlockSize}, block table has {s.BlockTable.Length}");
            int used = s.TokenCount > 0 ? last / cache.BlockSize + 1 : 0;
            for (int b = 0; b < used; b++)
                if ((uint)s.BlockTable[b] >= (uint)cache.NumBlocks) Throw($"block table entry {b} = {s.BlockTable[b]} outside 0..{cache.NumBlocks - 1}");
            totalTokens = Math.Max(totalTokens, s.TokenOffset + s.TokenCount);
            tableInts += used;
        }
        long needed = (long)totalTokens * nHeads * hd;
        if (q.Length < needed) Throw($"q has {q.Length} elements, needs {totalTokens}x{nHeads}x{hd}");
        if (output.Length < needed) Throw($"output has {output.Length} elements, needs {totalTokens}x{nHeads}x{hd}");
        if (totalTokens == 0) return;

        // Descriptors: per sequence [item start, token offset, start position, token count, table start], then the tables.
        int* desc = (int*)ThreadScratch.Get(0, (long)sequences.Length * DescriptorInts + tableInts);
        int* tables = desc + sequences.Length * DescriptorInts;
        int items = 0, tablePos = 0;
        for (int i = 0; i < sequences.Length; i++)
        {
            var s = sequences[i];
            int used = s.TokenCount > 0 ? (s.StartPosition + s.TokenCount - 1) / cache.BlockSize + 1 : 0;
            int* d = desc + i * DescriptorInts;
            d[0] = items;
            d[1] = s.TokenOffset;
            d[2] = s.StartPosition;
            d[3] = s.TokenCount;
            d[4] = tablePos;
            for (int b = 0; b < used; b++) tables[tablePos + b] = s.BlockTable[b];
            tablePos += used;
            items += s.TokenCount * nHeads;
        }

        fixed (float* qp = q)
        fixed (float* op = output)
        {
            var job = new Job
            {
                Q = qp, Out = op, Descriptors = desc, Tables = tables, Sequences = sequences.Length,
                K = cache.Row(layer, false, 0, 0), V = cache.Row(layer, true, 0, 0),
                BlockStride = cache.BlockStride, SlotStride = cache.NumKvHeads * hd, BlockSize = cache.BlockSize,
                HeadDim = hd, Heads = nHeads, Group = nHeads / cache.NumKvHeads, Scale = scale, Window = slidingWindow,
                Isa = KernelIsa.Current,
            };
            KernelThreadPool.Run(&RunItem, &job, items);
        }
    }

    private struct Job
    {
        public float* Q, Out, K, V;
        public int* Descriptors, Tables;
        public int Sequences;
        public long BlockStride;
        public int SlotStride, BlockSize, HeadDim, Heads, Group, Window;
        public float Scale;
        public IsaLevel Isa;
    }

    [SkipLocalsInit]
    private static void RunItem(void* state, int item)
    {
        var job = (Job*)state;
        // Sequence of this item: the last whose first item ≤ item (binary search; starts ascend).
        int lo = 0, hi = job->Sequences - 1;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) / 2;
            if (job->Descriptors[mid * DescriptorInts] <= item) lo = mid; else hi = mid - 1;
        }
        int* d = job->Descriptors + lo * DescriptorInts;
        int local = item - d[0];
        int t = local / job->Heads, h = local % job->Heads;
        int row = d[1] + t, pos = d[2] + t;
        int* table = job->Tables + d[4];
        int first = job->Window > 0 ? Math.Max(0, pos - job->Window + 1) : 0;

        int hd = job->HeadDim;
        var isa = job->Isa;
        long headOffset = (long)(h / job->Group) * hd;
        float* qv = job->Q + ((long)row * job->Heads + h) * hd;
        float* acc = stackalloc float[hd];
        float* scores = stackalloc float[Chunk];
        new Span<float>(acc, hd).Clear();
        float m = float.NegativeInfinity, l = 0;

        for (int p0 = first; p0 <= pos; p0 += Chunk)
        {
            int count = Math.Min(Chunk, pos - p0 + 1);
            for (int j = 0; j < count; j++)
            {
                int p = p0 + j;
                float* k = job->K + table[p / job->BlockSize] * job->BlockStride + (long)(p % job->BlockSize) * job->SlotStride + headOffset;
                scores[j] = VectorMath.Dot(qv, k, hd, isa) * job->Scale;
            }
            float newMax = Math.Max(m, VectorMath.Max(scores, count, isa));
            if (newMax > m && l > 0)
            {
                float correction = MathF.Exp(m - newMax);
                l *= correction;
                VectorMath.Scale(acc, hd, correction, isa);
            }
            m = newMax;
            l += VectorMath.ExpShiftedInPlace(scores, count, m, isa);
            for (int j = 0; j < count; j++)
            {
                int p = p0 + j;
                float* v = job->V + table[p / job->BlockSize] * job->BlockStride + (long)(p % job->BlockSize) * job->SlotStride + headOffset;
                VectorMath.MultiplyAdd(acc, v, hd, scores[j], isa);
            }
        }

        float* o = job->Out + ((long)row * job->Heads + h) * hd;
        float inv = 1f / l;
        for (int i = 0; i < hd; i++) o[i] = acc[i] * inv;
    }

    [DoesNotReturn]
    private static void Throw(string message) => throw new ArgumentException($"PagedAttention: {message}");
}
