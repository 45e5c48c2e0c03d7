using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using LoraServe.Core.Kv;
using LoraServe.Core.Threading;

namespace LoraServe.Core.Kernels;

/// <summary>
/// Causal multi-head attention of new tokens against a paged KV cache, with grouped-query
/// heads (query head h reads KV head h / (nHeads / nKvHeads), as HF's repeat_kv does).
///
/// Work items are (sequence, token, KV head), spread over the kernel pool: one item computes all
/// the query heads that share its KV head (the GQA group), so each key and value row is read once
/// per group rather than once per query head — decode attention is bound by reading the cache, and
/// this divides that traffic by the group size (3 for SmolLM2, 4–8 for Llama-3). Each item streams
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
    private const int MaxStackGroupFloats = 8192;
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
        if ((long)(nHeads / cache.NumKvHeads) * (hd + Chunk + 2) > MaxStackGroupFloats) Throw($"GQA group of {nHeads / cache.NumKvHeads} heads × head_dim {hd} above the supported scratch");

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
            items += s.TokenCount * cache.NumKvHeads;
        }

        fixed (float* qp = q)
        fixed (float* op = output)
        {
            var job = new Job
            {
                Q = qp, Out = op, Descriptors = desc, Tables = tables, Sequences = sequences.Length,
                K = cache.Row(layer, false, 0, 0), V = cache.Row(layer, true, 0, 0),
                BlockStride = cache.BlockStride, SlotStride = cache.NumKvHeads * hd, BlockSize = cache.BlockSize,
                HeadDim = hd, Heads = nHeads, KvHeads = cache.NumKvHeads, Group = nHeads / cache.NumKvHeads, Scale = scale, Window = slidingWindow,
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
        public int SlotStride, BlockSize, HeadDim, Heads, KvHeads, Group, Window;
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
        int t = local / job->KvHeads, kvh = local % job->KvHeads;
        int row = d[1] + t, pos = d[2] + t;
        int* table = job->Tables + d[4];
        int first = job->Window > 0 ? Math.Max(0, pos - job->Window + 1) : 0;

        int hd = job->HeadDim, group = job->Group;
        var isa = job->Isa;
        long headOffset = (long)kvh * hd;
        // Query heads kvh·group … kvh·group+group−1 are contiguous in q and out.
        float* q0 = job->Q + ((long)row * job->Heads + kvh * group) * hd;
        float* acc = stackalloc float[group * hd];
        float* scores = stackalloc float[group * Chunk];
        float* m = stackalloc float[group];
        float* l = stackalloc float[group];
        new Span<float>(acc, group * hd).Clear();
        for (int g = 0; g < group; g++) { m[g] = float.NegativeInfinity; l[g] = 0; }

        for (int p0 = first; p0 <= pos; p0 += Chunk)
        {
            int count = Math.Min(Chunk, pos - p0 + 1);
            for (int j = 0; j < count; j++)
            {
                int p = p0 + j;
                float* k = job->K + table[p / job->BlockSize] * job->BlockStride + (long)(p % job->BlockSize) * job->SlotStride + headOffset;
                for (int g = 0; g < group; g++) scores[g * Chunk + j] = VectorMath.Dot(q0 + g * hd, k, hd, isa) * job->Scale;
            }
            for (int g = 0; g < group; g++)
            {
                float* sg = scores + g * Chunk;
                float newMax = Math.Max(m[g], VectorMath.Max(sg, count, isa));
                if (newMax > m[g] && l[g] > 0)
                {
                    float correction = MathF.Exp(m[g] - newMax);
                    l[g] *= correction;
                    VectorMath.Scale(acc + g * hd, hd, correction, isa);
                }
                m[g] = newMax;
                l[g] += VectorMath.ExpShiftedInPlace(sg, count, newMax, isa);
            }
            for (int j = 0; j < count; j++)
            {
                int p = p0 + j;
                float* v = job->V + table[p / job->BlockSize] * job->BlockStride + (long)(p % job->BlockSize) * job->SlotStride + headOffset;
                for (int g = 0; g < group; g++) VectorMath.MultiplyAdd(acc + g * hd, v, hd, scores[g * Chunk + j], isa);
            }
        }

        for (int g = 0; g < group; g++)
        {
            float* o = job->Out + ((long)row * job->Heads + kvh * group + g) * hd;
            float inv = 1f / l[g];
            for (int i = 0; i < hd; i++) o[i] = acc[g * hd + i] * inv;
        }
    }

    [DoesNotReturn]
    private static void Throw(string message) => throw new ArgumentException($"PagedAttention: {message}");
}
