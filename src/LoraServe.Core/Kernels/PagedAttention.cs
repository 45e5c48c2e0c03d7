using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LoraServe.Core.Kv;
using LoraServe.Core.Tensors;
using LoraServe.Core.Threading;

namespace LoraServe.Core.Kernels;

/// <summary>
/// Causal multi-head attention of new tokens against a paged KV cache, with grouped-query
/// heads (query head h reads KV head h / (nHeads / nKvHeads), as HF's repeat_kv does).
///
/// Work items are (sequence, token, KV head, key split), spread over the kernel pool: one item
/// computes all the query heads that share its KV head (the GQA group), so each key and value row is
/// read once per group rather than once per query head — decode attention is bound by reading the
/// cache, and this divides that traffic by the group size (3 for SmolLM2, 4–8 for Llama-3). Each item
/// streams its keys in chunks: scores of a chunk, then the online-softmax update (FlashAttention's
/// rescaling: running max m and sum l; when m grows, the partial output and l are scaled by
/// exp(m_old − m_new)), so no score row of context length is ever stored and nothing is allocated.
///
/// Split-K (flash-decoding): when a call has few (token, KV head) pairs — batch-1 decode has 3 — the
/// keys of each pair are cut into splits of <c>splitKeys</c> positions, each split a work item that
/// leaves its partial (m, l, unnormalised output) in the caller's scratch; the caller then merges the
/// partials (m = max mᵢ, l = Σ lᵢ·e^(mᵢ−m), out = Σ accᵢ·e^(mᵢ−m) / l). Without it batch-1 decode ran
/// 3 items on 2 cores, each waiting on its own chain of cache misses. The split length depends only
/// on the shapes of the call, never on the thread count, so results are the same on 1 or N threads.
///
/// Vector512 path (head_dim a multiple of 32): the scores of 16 keys are computed as 16 partial
/// vectors per query head and reduced together by a 4-level shuffle-add tree (30 shuffles, 24 of
/// them inside 128-bit lanes, + 15 adds for 16 scores instead of a full horizontal reduction per
/// key), rows are read as even/odd element pairs (see <see cref="KeysV512{T}"/>), the softmax uses
/// <see cref="VectorMath.Exp"/>, and the next chunk's K and V rows are prefetched while this chunk
/// is computed, a slice before each query head. No library offers paged-cache attention for .NET,
/// hence the hand-written kernel.
///
/// The sequences' block tables are copied into per-thread native scratch once per call so that
/// workers read plain memory.
/// </summary>
public static unsafe class PagedAttention
{
    private const int Chunk = 32;
    private const int VChunk = 16;
    private const int MaxStackHeadDim = 1024;
    private const int MaxStackGroupFloats = 8192;
    private const int DescriptorInts = 6;

    /// <summary>Below this many query tokens per call, keys are split across work items (aiming at this many items).</summary>
    internal const int SplitBelowItems = 16;

    /// <summary>Shortest split, in key positions (a multiple of both chunk sizes).</summary>
    internal const int MinSplitKeys = 32;

    private const int ScratchDescriptors = 0;
    private const int ScratchPartials = 1;
    private const int ScratchItemState = 2;

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

        int totalTokens = 0, tableInts = 0, maxKeys = 0;
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
            if (s.TokenCount > 0) maxKeys = Math.Max(maxKeys, slidingWindow > 0 ? Math.Min(slidingWindow, last + 1) : last + 1);
        }
        long needed = (long)totalTokens * nHeads * hd;
        if (q.Length < needed) Throw($"q has {q.Length} elements, needs {totalTokens}x{nHeads}x{hd}");
        if (output.Length < needed) Throw($"output has {output.Length} elements, needs {totalTokens}x{nHeads}x{hd}");
        if (totalTokens == 0) return;

        // Split length: a function of the call's shapes only (not of the thread count).
        int splitKeys = int.MaxValue;
        if (totalTokens < SplitBelowItems)
        {
            long perItem = ((long)maxKeys * totalTokens + SplitBelowItems - 1) / SplitBelowItems;
            splitKeys = (int)Math.Max(MinSplitKeys, (perItem + VChunk - 1) / VChunk * VChunk);
        }

        // Descriptors: per sequence [item start, token offset, start position, token count, table start, splits], then the tables.
        int* desc = (int*)ThreadScratch.Get(ScratchDescriptors, (long)sequences.Length * DescriptorInts + tableInts);
        int* tables = desc + sequences.Length * DescriptorInts;
        int items = 0, tablePos = 0;
        bool anySplit = false;
        for (int i = 0; i < sequences.Length; i++)
        {
            var s = sequences[i];
            int used = s.TokenCount > 0 ? (s.StartPosition + s.TokenCount - 1) / cache.BlockSize + 1 : 0;
            int keys = s.TokenCount > 0 ? (slidingWindow > 0 ? Math.Min(slidingWindow, s.StartPosition + s.TokenCount) : s.StartPosition + s.TokenCount) : 0;
            int splits = splitKeys == int.MaxValue ? 1 : Math.Max(1, (keys + splitKeys - 1) / splitKeys);
            anySplit |= splits > 1;
            int* d = desc + i * DescriptorInts;
            d[0] = items;
            d[1] = s.TokenOffset;
            d[2] = s.StartPosition;
            d[3] = s.TokenCount;
            d[4] = tablePos;
            d[5] = splits;
            for (int b = 0; b < used; b++) tables[tablePos + b] = s.BlockTable[b];
            tablePos += used;
            items += s.TokenCount * splits;
        }

        int group = nHeads / cache.NumKvHeads;
        int partialStride = nHeads * (hd + 2);
        float* partials = anySplit ? ThreadScratch.Get(ScratchPartials, (long)items * partialStride) : null;

        fixed (float* qp = q)
        fixed (float* op = output)
        {
            var job = new Job
            {
                Q = qp, Out = op, Descriptors = desc, Tables = tables, Sequences = sequences.Length,
                K = (byte*)cache.RowAddress(layer, false, 0, 0), V = (byte*)cache.RowAddress(layer, true, 0, 0), KvType = cache.DType,
                BlockStride = cache.BlockStride, SlotStride = cache.NumKvHeads * hd, BlockSize = cache.BlockSize,
                HeadDim = hd, Heads = nHeads, KvHeads = cache.NumKvHeads, Group = group, Scale = scale, Window = slidingWindow,
                SplitKeys = splitKeys, Partials = partials, PartialStride = partialStride,
                Isa = KernelIsa.Current,
            };
            KernelThreadPool.Run(&RunItem, &job, items);
            if (anySplit) Merge(&job);
        }
    }

    private struct Job
    {
        public float* Q, Out, Partials;
        /// <summary>Layer planes of K and V, elements of <see cref="KvType"/>; row offsets are counted in elements.</summary>
        public byte* K, V;
        public DType KvType;
        public int* Descriptors, Tables;
        public int Sequences;
        public long BlockStride;
        public int SlotStride, BlockSize, HeadDim, Heads, KvHeads, Group, Window, SplitKeys, PartialStride;
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
        int splits = d[5];
        int local = item - d[0];
        int t = local / splits, split = local % splits;
        int row = d[1] + t, pos = d[2] + t;
        int* table = job->Tables + d[4];
        int first = job->Window > 0 ? Math.Max(0, pos - job->Window + 1) : 0;
        // This split's keys: [begin, end) ∩ [first, pos]; may be empty for early tokens of a split prefill.
        int begin = first, end = pos + 1;
        if (splits > 1)
        {
            long b = first + (long)split * job->SplitKeys;
            begin = (int)Math.Min(b, pos + 1);
            end = (int)Math.Min(b + job->SplitKeys, pos + 1);
        }

        int hd = job->HeadDim, group = job->Group, heads = job->Heads;
        float* qRow = job->Q + (long)row * heads * hd;
        // Running state of every query head of the row: [m (heads) | l (heads) | acc (heads × hd)], the partials' layout.
        // ... followed, for the Vector512 path, by q in that path's even/odd layout (EvenOdd.Arrange).
        float* st = ThreadScratch.Get(ScratchItemState, job->PartialStride + (long)heads * hd);
        float* m = st, l = st + heads, acc = st + 2 * heads;
        new Span<float>(acc, heads * hd).Clear();
        for (int h = 0; h < heads; h++) { m[h] = float.NegativeInfinity; l[h] = 0; }

        if (begin < end)
        {
            if (job->Isa == IsaLevel.Vector512 && hd % 32 == 0)
            {
                float* qArranged = st + job->PartialStride;
                EvenOdd.Arrange(qRow, qArranged, heads * hd);
                if (job->KvType == DType.BF16) KeysV512<Bf16Pairs>(job, qArranged, table, begin, end, m, l, acc);
                else KeysV512<F32Pairs>(job, qArranged, table, begin, end, m, l, acc);
                EvenOdd.Interleave(acc, heads * hd);
            }
            else
            {
                // Query heads kvh·group … kvh·group+group−1 are contiguous in q and out.
                for (int kvh = 0; kvh < job->KvHeads; kvh++)
                {
                    int h0 = kvh * group;
                    Keys(job, qRow + (long)h0 * hd, table, (long)kvh * hd, begin, end, m + h0, l + h0, acc + (long)h0 * hd);
                }
            }
        }

        if (splits == 1)
        {
            float* o = job->Out + (long)row * heads * hd;
            for (int h = 0; h < heads; h++)
            {
                float inv = 1f / l[h];
                for (int i = 0; i < hd; i++) o[h * hd + i] = acc[h * hd + i] * inv;
            }
        }
        else
        {
            new ReadOnlySpan<float>(st, job->PartialStride).CopyTo(new Span<float>(job->Partials + (long)item * job->PartialStride, job->PartialStride));
        }
    }

    /// <summary>Any ISA, any head_dim: the online-softmax loop over keys [begin, end) in chunks of <see cref="Chunk"/>.</summary>
    private static void Keys(Job* job, float* q0, int* table, long headOffset, int begin, int end, float* m, float* l, float* acc)
    {
        int hd = job->HeadDim, group = job->Group;
        var isa = job->Isa;
        bool bf16 = job->KvType == DType.BF16;
        int elementSize = bf16 ? sizeof(ushort) : sizeof(float);
        float* scores = stackalloc float[group * Chunk];
        // A BF16 cache's row slice is widened here first (exact: bf16 → f32 is a shift).
        float* widened = stackalloc float[bf16 ? hd : 0];
        for (int p0 = begin; p0 < end; p0 += Chunk)
        {
            int count = Math.Min(Chunk, end - p0);
            for (int j = 0; j < count; j++)
            {
                int p = p0 + j;
                float* k = Slice(job->K + (table[p / job->BlockSize] * job->BlockStride + (long)(p % job->BlockSize) * job->SlotStride + headOffset) * elementSize, bf16, widened, hd, isa);
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
                float* v = Slice(job->V + (table[p / job->BlockSize] * job->BlockStride + (long)(p % job->BlockSize) * job->SlotStride + headOffset) * elementSize, bf16, widened, hd, isa);
                for (int g = 0; g < group; g++) VectorMath.MultiplyAdd(acc + g * hd, v, hd, scores[g * Chunk + j], isa);
            }
        }
    }

    /// <summary>The hd-element row slice at <paramref name="address"/> as float32: in place for F32, widened into <paramref name="widened"/> for BF16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float* Slice(byte* address, bool bf16, float* widened, int hd, IsaLevel isa)
    {
        if (!bf16) return (float*)address;
        WeightWidening.WidenBf16((ushort*)address, widened, hd, isa);
        return widened;
    }

    /// <summary>
    /// Vector512, head_dim a multiple of 32: keys [begin, end) of one query row, all KV heads, in chunks
    /// of 16 positions. A chunk's K (and V) rows of all heads are one contiguous slot row each, so an
    /// item streams whole slots (a 16-slot block is one contiguous run) rather than a head_dim slice
    /// of every slot. Per chunk and query head, 16 partial-dot vectors (one per key) are reduced
    /// together by <see cref="TransposeSum16"/> into one vector of 16 scores, so the softmax update is
    /// one vector max/exp per chunk and head.
    ///
    /// Rows are read in the even/odd layout of <typeparamref name="T"/> (each 32 elements as their
    /// even- and odd-indexed halves), which for a BF16 cache is one load, one shift and one and per 32
    /// elements — the vpmovzxwd widening this replaced cost a cross-lane shuffle per 16 elements, per
    /// key and per query head. q (<paramref name="qArranged"/>) and the accumulators are in that layout
    /// too; the caller un-arranges the accumulators. An F32 cache is permuted into the same layout, so
    /// both dtypes sum in the same order and a BF16 cache equals an F32 cache holding the rounded
    /// values bit for bit.
    /// </summary>
    [SkipLocalsInit]
    private static void KeysV512<T>(Job* job, float* qArranged, int* table, int begin, int end, float* m, float* l, float* acc)
        where T : struct, IEvenOddLoad
    {
        int hd = job->HeadDim, group = job->Group, kvHeads = job->KvHeads, heads = job->Heads, bs = job->BlockSize;
        long blockStride = job->BlockStride, slotStride = job->SlotStride;
        byte* kPlane = job->K, vPlane = job->V;
        var scale = Vector512.Create(job->Scale);
        var part = stackalloc Vector512<float>[VChunk];
        float* probs = stackalloc float[group * VChunk];
        // Row offsets (elements from the plane start) of this chunk's and the next chunk's slots, advanced
        // incrementally (no division per key); the next chunk's K and V slot rows are prefetched while
        // this chunk is computed, spread over its query heads.
        long* rows = stackalloc long[VChunk];
        long* nextRows = stackalloc long[VChunk];
        int block = begin / bs, slot = begin % bs;
        int slotBytes = (int)slotStride * T.ElementBytes;
        int nextCount = FillRows(nextRows, Math.Min(VChunk, end - begin), table, ref block, ref slot, bs, blockStride, slotStride);
        // The first chunk too: its K rows are read at once, but its V rows only after the scores.
        for (int j = 0; j < nextCount; j++)
        {
            byte* kr = kPlane + nextRows[j] * T.ElementBytes, vr = vPlane + nextRows[j] * T.ElementBytes;
            for (int off = 0; off < slotBytes; off += 64)
            {
                Sse.Prefetch0(kr + off);
                Sse.Prefetch0(vr + off);
            }
        }
        for (int p0 = begin; p0 < end; p0 += VChunk)
        {
            int count = nextCount;
            long* swap = rows; rows = nextRows; nextRows = swap;
            nextCount = p0 + VChunk < end ? FillRows(nextRows, Math.Min(VChunk, end - p0 - VChunk), table, ref block, ref slot, bs, blockStride, slotStride) : 0;
            var valid = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(count)).AsSingle();
            for (int kvh = 0; kvh < kvHeads; kvh++)
            {
                byte* kBase = kPlane + (long)kvh * hd * T.ElementBytes, vBase = vPlane + (long)kvh * hd * T.ElementBytes;
                int h0 = kvh * group;
                for (int g = 0; g < group; g++)
                {
                    int h = h0 + g;
                    // The next chunk's K and V slot rows, a slice per query head: issued as one burst at
                    // the chunk's start (2 × 16 rows × 6 lines for SmolLM2) they waited on the miss
                    // queue and the chunk's own loads behind them (batch-32 attention 13.4–14.0 → 9.7–9.9 ms).
                    for (int j = h * nextCount / heads; j < (h + 1) * nextCount / heads; j++)
                    {
                        byte* kr = kPlane + nextRows[j] * T.ElementBytes, vr = vPlane + nextRows[j] * T.ElementBytes;
                        for (int off = 0; off < slotBytes; off += 64)
                        {
                            Sse.Prefetch0(kr + off);
                            Sse.Prefetch0(vr + off);
                        }
                    }
                    float* qh = qArranged + h * hd;
                    if (hd == 64)
                    {
                        // head_dim 64 (SmolLM2, TinyLlama, …): q in four registers, two pair loads per key.
                        var qe0 = Vector512.Load(qh);
                        var qo0 = Vector512.Load(qh + 16);
                        var qe1 = Vector512.Load(qh + 32);
                        var qo1 = Vector512.Load(qh + 48);
                        for (int j = 0; j < count; j++)
                        {
                            byte* k = kBase + rows[j] * T.ElementBytes;
                            T.Load32(k, out var e0, out var o0);
                            T.Load32(k + 32 * T.ElementBytes, out var e1, out var o1);
                            part[j] = Vector512.FusedMultiplyAdd(qe0, e0, qo0 * o0) + Vector512.FusedMultiplyAdd(qe1, e1, qo1 * o1);
                        }
                    }
                    else for (int j = 0; j < count; j++)
                    {
                        byte* k = kBase + rows[j] * T.ElementBytes;
                        Vector512<float> s0 = default, s1 = default;
                        for (int i = 0; i < hd; i += 32)
                        {
                            T.Load32(k + i * T.ElementBytes, out var ke, out var ko);
                            s0 = Vector512.FusedMultiplyAdd(Vector512.Load(qh + i), ke, s0);
                            s1 = Vector512.FusedMultiplyAdd(Vector512.Load(qh + i + 16), ko, s1);
                        }
                        part[j] = s0 + s1;
                    }
                    for (int j = count; j < VChunk; j++) part[j] = Vector512<float>.Zero;
                    var scores = Vector512.ConditionalSelect(valid, TransposeSum16(part) * scale, Vector512.Create(float.NegativeInfinity));
                    float newMax = Math.Max(m[h], MaxOf(scores));
                    if (newMax > m[h] && l[h] > 0)
                    {
                        float c = MathF.Exp(m[h] - newMax);
                        l[h] *= c;
                        var correction = Vector512.Create(c);
                        float* a = acc + h * hd;
                        for (int i = 0; i < hd; i += 16) (Vector512.Load(a + i) * correction).Store(a + i);
                    }
                    m[h] = newMax;
                    var e = Vector512.ConditionalSelect(valid, VectorMath.Exp(scores - Vector512.Create(newMax)), Vector512<float>.Zero);
                    l[h] += Vector512.Sum(e);
                    e.Store(probs + g * VChunk);
                }
                // acc[h] += Σⱼ p[h][j]·v[j]: a (group × 16)·(16 × hd) product. Accumulators stay in registers
                // across the chunk's keys, even and odd keys apart (independent FMA chains).
                for (int g = 0; g < group; g++)
                {
                    float* pg = probs + g * VChunk;
                    float* a = acc + (h0 + g) * hd;
                    int i = 0;
                    if (hd % 64 == 0)
                    {
                        // 64 elements per pass (head_dim 64: the whole row): 8 chains.
                        for (; i < hd; i += 64)
                        {
                            Vector512<float> a0 = Vector512.Load(a + i), a1 = Vector512.Load(a + i + 16), a2 = Vector512.Load(a + i + 32), a3 = Vector512.Load(a + i + 48);
                            Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default;
                            int j = 0;
                            for (; j + 2 <= count; j += 2)
                            {
                                AddScaled64<T>(vBase + (rows[j] + i) * T.ElementBytes, Vector512.Create(pg[j]), ref a0, ref a1, ref a2, ref a3);
                                AddScaled64<T>(vBase + (rows[j + 1] + i) * T.ElementBytes, Vector512.Create(pg[j + 1]), ref b0, ref b1, ref b2, ref b3);
                            }
                            if (j < count) AddScaled64<T>(vBase + (rows[j] + i) * T.ElementBytes, Vector512.Create(pg[j]), ref a0, ref a1, ref a2, ref a3);
                            (a0 + b0).Store(a + i);
                            (a1 + b1).Store(a + i + 16);
                            (a2 + b2).Store(a + i + 32);
                            (a3 + b3).Store(a + i + 48);
                        }
                        continue;
                    }
                    for (; i < hd; i += 32)
                    {
                        Vector512<float> a0 = Vector512.Load(a + i), a1 = Vector512.Load(a + i + 16), b0 = default, b1 = default;
                        int j = 0;
                        for (; j + 2 <= count; j += 2)
                        {
                            var p0v = Vector512.Create(pg[j]);
                            var p1v = Vector512.Create(pg[j + 1]);
                            T.Load32(vBase + (rows[j] + i) * T.ElementBytes, out var e0, out var o0);
                            T.Load32(vBase + (rows[j + 1] + i) * T.ElementBytes, out var e1, out var o1);
                            a0 = Vector512.FusedMultiplyAdd(p0v, e0, a0);
                            a1 = Vector512.FusedMultiplyAdd(p0v, o0, a1);
                            b0 = Vector512.FusedMultiplyAdd(p1v, e1, b0);
                            b1 = Vector512.FusedMultiplyAdd(p1v, o1, b1);
                        }
                        if (j < count)
                        {
                            var p0v = Vector512.Create(pg[j]);
                            T.Load32(vBase + (rows[j] + i) * T.ElementBytes, out var e0, out var o0);
                            a0 = Vector512.FusedMultiplyAdd(p0v, e0, a0);
                            a1 = Vector512.FusedMultiplyAdd(p0v, o0, a1);
                        }
                        (a0 + b0).Store(a + i);
                        (a1 + b1).Store(a + i + 16);
                    }
                }
            }
        }
    }

    /// <summary>(a0, a1, a2, a3) += p × the 64 elements at <paramref name="v"/>, in the even/odd layout.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddScaled64<T>(byte* v, Vector512<float> p, ref Vector512<float> a0, ref Vector512<float> a1, ref Vector512<float> a2, ref Vector512<float> a3)
        where T : struct, IEvenOddLoad
    {
        T.Load32(v, out var e0, out var o0);
        T.Load32(v + 32 * T.ElementBytes, out var e1, out var o1);
        a0 = Vector512.FusedMultiplyAdd(p, e0, a0);
        a1 = Vector512.FusedMultiplyAdd(p, o0, a1);
        a2 = Vector512.FusedMultiplyAdd(p, e1, a2);
        a3 = Vector512.FusedMultiplyAdd(p, o1, a3);
    }

    /// <summary>
    /// Loads 32 consecutive cache elements as two float vectors: the even-indexed elements and the
    /// odd-indexed ones (the layout <see cref="KeysV512{T}"/> computes in).
    /// </summary>
    private interface IEvenOddLoad
    {
        static abstract int ElementBytes { get; }

        static abstract void Load32(byte* p, out Vector512<float> even, out Vector512<float> odd);
    }

    /// <summary>BF16: one 64-byte load, a shift and an and (<see cref="EvenOdd.SplitBf16"/>).</summary>
    private readonly struct Bf16Pairs : IEvenOddLoad
    {
        public static int ElementBytes => 2;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Load32(byte* p, out Vector512<float> even, out Vector512<float> odd) => EvenOdd.SplitBf16((ushort*)p, out even, out odd);
    }

    /// <summary>F32: two loads permuted into the same layout as <see cref="Bf16Pairs"/>.</summary>
    private readonly struct F32Pairs : IEvenOddLoad
    {
        public static int ElementBytes => 4;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Load32(byte* p, out Vector512<float> even, out Vector512<float> odd) => EvenOdd.Split((float*)p, out even, out odd);
    }

    /// <summary>Offsets of the next <paramref name="count"/> key rows, advancing (block, slot) through the block table.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int FillRows(long* rows, int count, int* table, ref int block, ref int slot, int bs, long blockStride, long slotStride)
    {
        for (int j = 0; j < count; j++)
        {
            rows[j] = table[block] * blockStride + slot * slotStride;
            if (++slot == bs) { slot = 0; block++; }
        }
        return count;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float MaxOf(Vector512<float> v)
    {
        var h = Vector256.Max(v.GetLower(), v.GetUpper());
        var q = Vector128.Max(h.GetLower(), h.GetUpper());
        q = Vector128.Max(q, Vector128.Shuffle(q, Vector128.Create(2, 3, 0, 1)));
        return MathF.Max(q.ToScalar(), q.GetElement(1));
    }

    /// <summary>
    /// [Σ v₀, Σ v₁, …, Σ v₁₅] of 16 vectors, by a 4-level shuffle-add tree that halves the vectors at
    /// each level: two levels of in-lane unpacks (vunpcklps/vunpckhps, then the same on float pairs)
    /// leave in each 128-bit lane the lane's sums of four inputs; two levels of 128-bit lane shuffles
    /// (vshuff32x4) add the four lanes. 30 shuffles and 15 adds for 16 sums, instead of a full
    /// horizontal reduction per vector; 24 of the shuffles stay inside a lane, none needs a lane
    /// selector or overwrites a source. Against the vpermt2ps tree it replaced (two-source cross-lane
    /// permutes): 2 % less time per decode-attention call, both trees alternated in one process
    /// (one thread, 257 keys, 9 heads, 22.1 vs 22.5 µs median of 30).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> TransposeSum16(Vector512<float>* v)
    {
        var abcd = SumQuad(v[0], v[1], v[2], v[3]);
        var efgh = SumQuad(v[4], v[5], v[6], v[7]);
        var ijkl = SumQuad(v[8], v[9], v[10], v[11]);
        var mnop = SumQuad(v[12], v[13], v[14], v[15]);
        var ae = SumLanePairs(abcd, efgh);
        var im = SumLanePairs(ijkl, mnop);
        return SumLanePairs(ae, im);
    }

    /// <summary>Per 128-bit lane L: [Σ a's lane L, Σ b's lane L, Σ c's lane L, Σ d's lane L].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> SumQuad(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d)
    {
        // Per lane: ab = [a0+a2, b0+b2, a1+a3, b1+b3], cd likewise.
        var ab = Avx512F.UnpackLow(a, b) + Avx512F.UnpackHigh(a, b);
        var cd = Avx512F.UnpackLow(c, d) + Avx512F.UnpackHigh(c, d);
        // Unpacking float pairs (as doubles): [a0+a2, b0+b2, c0+c2, d0+d2] + [a1+a3, b1+b3, c1+c3, d1+d3].
        return Avx512F.UnpackLow(ab.AsDouble(), cd.AsDouble()).AsSingle() + Avx512F.UnpackHigh(ab.AsDouble(), cd.AsDouble()).AsSingle();
    }

    /// <summary>[x.L0 + x.L1, x.L2 + x.L3, y.L0 + y.L1, y.L2 + y.L3] over the 128-bit lanes L of x and y.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> SumLanePairs(Vector512<float> x, Vector512<float> y) =>
        Avx512F.Shuffle4x128(x, y, 0b10_00_10_00) + Avx512F.Shuffle4x128(x, y, 0b11_01_11_01);
    /// <summary>Combines the split partials of every (row, query head) into the normalised output (on the calling thread).</summary>
    private static void Merge(Job* job)
    {
        int hd = job->HeadDim, heads = job->Heads;
        float* acc = stackalloc float[MaxStackHeadDim];
        for (int s = 0; s < job->Sequences; s++)
        {
            int* d = job->Descriptors + s * DescriptorInts;
            int splits = d[5];
            if (splits == 1) continue;
            for (int t = 0; t < d[3]; t++)
            {
                float* first = job->Partials + (d[0] + (long)t * splits) * job->PartialStride;
                for (int h = 0; h < heads; h++)
                {
                    float max = float.NegativeInfinity;
                    for (int i = 0; i < splits; i++) max = Math.Max(max, first[i * job->PartialStride + h]);
                    float sum = 0;
                    new Span<float>(acc, hd).Clear();
                    for (int i = 0; i < splits; i++)
                    {
                        float* p = first + i * job->PartialStride;
                        float li = p[heads + h];
                        if (li == 0) continue; // empty split
                        float w = MathF.Exp(p[h] - max);
                        sum += li * w;
                        VectorMath.MultiplyAdd(acc, p + 2 * heads + h * hd, hd, w, job->Isa);
                    }
                    float* o = job->Out + ((long)(d[1] + t) * heads + h) * hd;
                    float inv = 1f / sum;
                    for (int i = 0; i < hd; i++) o[i] = acc[i] * inv;
                }
            }
        }
    }

    [DoesNotReturn]
    private static void Throw(string message) => throw new ArgumentException($"PagedAttention: {message}");
}
