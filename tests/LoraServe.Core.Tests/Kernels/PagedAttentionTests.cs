using LoraServe.Core.Kernels;
using LoraServe.Core.Kv;
using LoraServe.Core.Tensors;
using LoraServe.Core.Tests.Infrastructure;
using LoraServe.Core.Threading;
using LoraServe.Testing;

namespace LoraServe.Core.Tests.Kernels;

public sealed class PagedAttentionTests
{
    private const int BlockSize = 4;

    public static TheoryData<IsaLevel, int, DType> Cases()
    {
        var data = new TheoryData<IsaLevel, int, DType>();
        foreach (var isa in IsaScope.Levels())
            foreach (int window in new[] { 0, 5 })
                foreach (var dtype in new[] { DType.F32, DType.BF16 })
                    data.Add(isa, window, dtype);
        return data;
    }

    /// <summary>The K or V values the cache holds after a write: as given (F32), rounded to nearest even bf16 (BF16).</summary>
    private static float[] Stored(float[] values, DType dtype) => dtype == DType.BF16 ? Bf16Rounding.Round(values) : values;

    /// <summary>
    /// Three sequences of different lengths (a 1-token decode, a prefill chunk continuing a cached
    /// prefix, a fresh prefill), GQA with 6 query heads over 2 KV heads, head_dim 18 (no SIMD
    /// multiple), physical blocks scattered and interleaved between sequences, against a float64
    /// softmax(q·Kᵀ·scale)·V over contiguous per-sequence K/V (rounded to bf16 first for a BF16 cache).
    /// </summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void Forward_matches_contiguous_float64_reference(IsaLevel isa, int window, DType dtype)
    {
        using var scope = new IsaScope(isa);
        const int nHeads = 6, nKv = 2, hd = 18, layers = 2, layer = 1;
        float scale = 1 / MathF.Sqrt(hd);
        // (cached prefix length, new tokens)
        (int Start, int Count)[] shapes = [(37, 1), (9, 6), (0, 11)];
        int[][] tables = [[20, 3, 17, 8, 11, 0, 25, 14, 5, 30], [2, 29, 6, 21], [9, 1, 27]];
        using var cache = new PagedKvCache(layers, numBlocks: 32, BlockSize, nKv, hd, dtype);
        var rowLen = nKv * hd;
        var keys = new float[shapes.Length][];
        var values = new float[shapes.Length][];
        var sequences = new AttentionSequence[shapes.Length];
        int offset = 0;
        for (int s = 0; s < shapes.Length; s++)
        {
            int total = shapes[s].Start + shapes[s].Count;
            keys[s] = TensorCheck.Random(total * rowLen, seed: 100 + s, range: 2);
            values[s] = TensorCheck.Random(total * rowLen, seed: 200 + s);
            // Poison layer 0 with the same positions: reading the wrong layer must fail the test.
            cache.Write(0, tables[s], 0, TensorCheck.Random(total * rowLen, 300 + s), TensorCheck.Random(total * rowLen, 400 + s), total);
            cache.Write(layer, tables[s], 0, keys[s], values[s], total);
            keys[s] = Stored(keys[s], dtype);
            values[s] = Stored(values[s], dtype);
            sequences[s] = new AttentionSequence(offset, shapes[s].Count, shapes[s].Start, tables[s]);
            offset += shapes[s].Count;
        }
        var q = TensorCheck.Random(offset * nHeads * hd, seed: 7, range: 2);
        var expected = Reference(q, keys, values, sequences, nHeads, nKv, hd, scale, window);
        var output = new float[q.Length];
        PagedAttention.Forward(q, sequences, cache, layer, nHeads, scale, output, window);
        // Outputs are convex combinations of values in [−1, 1]: an absolute tolerance fits.
        TensorCheck.Close($"attention {isa} window={window} {dtype}", expected, new double[expected.Length], output, 0, 2e-6);

        var single = new float[q.Length];
        using (KernelThreadPool.LimitCurrentThread(1))
            PagedAttention.Forward(q, sequences, cache, layer, nHeads, scale, single, window);
        Assert.Equal(output, single);
    }

    public static TheoryData<IsaLevel, int, int, int, DType> SplitCases()
    {
        var data = new TheoryData<IsaLevel, int, int, int, DType>();
        foreach (var isa in IsaScope.Levels())
            foreach (int hd in new[] { 18, 48, 64, 96 })
                foreach (int window in new[] { 0, 5, 70 })
                    for (int shape = 0; shape < 4; shape++)
                        foreach (var dtype in new[] { DType.F32, DType.BF16 })
                            data.Add(isa, hd, window, shape, dtype);
        return data;
    }

    /// <summary>
    /// Calls with fewer than 16 query tokens, where keys are split across work items and the partials
    /// merged (flash-decoding): one long decode (10 splits of 32), two sequences (4 and 3 splits of 64),
    /// an 8-token chunk (2 splits of 48), and a 2-token chunk (3 splits of 32) whose first token's last
    /// split is empty. head_dim 64 and 96 take the Vector512 chunk-of-16 path (the unrolled head_dim-64
    /// loops, and the general loops over 32-element pairs), 18 and 48 (not a multiple of 32) the generic one.
    /// </summary>
    [Theory]
    [MemberData(nameof(SplitCases))]
    public void Split_keys_match_contiguous_float64_reference(IsaLevel isa, int hd, int window, int shape, DType dtype)
    {
        using var scope = new IsaScope(isa);
        (int nKv, int nHeads, (int Start, int Count)[] shapes) = shape switch
        {
            0 => (2, 6, new[] { (300, 1) }),
            1 => (2, 6, new[] { (200, 1), (130, 3) }),
            2 => (1, 3, new[] { (60, 8) }),
            _ => (2, 6, new[] { (63, 2) }),
        };
        float scale = 1 / MathF.Sqrt(hd);
        var rowLen = nKv * hd;
        var rng = new Random(shape);
        using var cache = new PagedKvCache(1, numBlocks: 200, BlockSize, nKv, hd, dtype);
        var freeBlocks = Enumerable.Range(0, 200).OrderBy(_ => rng.Next()).ToArray();
        int nextBlock = 0;
        var keys = new float[shapes.Length][];
        var values = new float[shapes.Length][];
        var sequences = new AttentionSequence[shapes.Length];
        int offset = 0;
        for (int s = 0; s < shapes.Length; s++)
        {
            int total = shapes[s].Start + shapes[s].Count;
            var table = freeBlocks.AsSpan(nextBlock, (total + BlockSize - 1) / BlockSize).ToArray();
            nextBlock += table.Length;
            keys[s] = TensorCheck.Random(total * rowLen, seed: 100 + s, range: 2);
            values[s] = TensorCheck.Random(total * rowLen, seed: 200 + s);
            cache.Write(0, table, 0, keys[s], values[s], total);
            keys[s] = Stored(keys[s], dtype);
            values[s] = Stored(values[s], dtype);
            sequences[s] = new AttentionSequence(offset, shapes[s].Count, shapes[s].Start, table);
            offset += shapes[s].Count;
        }
        var q = TensorCheck.Random(offset * nHeads * hd, seed: 7, range: 2);
        var expected = Reference(q, keys, values, sequences, nHeads, nKv, hd, scale, window);
        var output = new float[q.Length];
        PagedAttention.Forward(q, sequences, cache, 0, nHeads, scale, output, window);
        TensorCheck.Close($"attention {isa} hd={hd} window={window} shape={shape} {dtype}", expected, new double[expected.Length], output, 0, 2e-6);

        var single = new float[q.Length];
        using (KernelThreadPool.LimitCurrentThread(1))
            PagedAttention.Forward(q, sequences, cache, 0, nHeads, scale, single, window);
        Assert.Equal(output, single);
    }

    private static double[] Reference(float[] q, float[][] keys, float[][] values, AttentionSequence[] sequences, int nHeads, int nKv, int hd, float scale, int window)
    {
        int rowLen = nKv * hd;
        var expected = new double[q.Length];
        for (int s = 0; s < sequences.Length; s++)
            for (int t = 0; t < sequences[s].TokenCount; t++)
                for (int h = 0; h < nHeads; h++)
                {
                    int pos = sequences[s].StartPosition + t, kvh = h / (nHeads / nKv), row = sequences[s].TokenOffset + t;
                    int first = window > 0 ? Math.Max(0, pos - window + 1) : 0;
                    var w = new double[pos + 1];
                    double max = double.NegativeInfinity, sum = 0;
                    for (int p = first; p <= pos; p++)
                    {
                        double d = 0;
                        for (int i = 0; i < hd; i++) d += (double)q[(row * nHeads + h) * hd + i] * keys[s][p * rowLen + kvh * hd + i];
                        w[p] = d * scale;
                        max = Math.Max(max, w[p]);
                    }
                    for (int p = first; p <= pos; p++) sum += w[p] = Math.Exp(w[p] - max);
                    for (int i = 0; i < hd; i++)
                    {
                        double o = 0;
                        for (int p = first; p <= pos; p++) o += w[p] / sum * values[s][p * rowLen + kvh * hd + i];
                        expected[(row * nHeads + h) * hd + i] = o;
                    }
                }
        return expected;
    }

    public static TheoryData<IsaLevel, int, int> Bf16EqualsF32Cases()
    {
        var data = new TheoryData<IsaLevel, int, int>();
        foreach (var isa in IsaScope.Levels())
            foreach (int hd in new[] { 18, 48, 64, 80, 128 })
                foreach (int window in new[] { 0, 37 })
                    data.Add(isa, hd, window);
        return data;
    }

    /// <summary>
    /// A BF16 cache widens exactly (bf16 → f32 is a 16-bit shift), so attention over it must equal,
    /// bit for bit, attention over an F32 cache holding the same values already rounded: a batch-1
    /// decode over 517 keys (split across items), a 5-token prefill chunk and a 20-token prefill
    /// (no split), GQA 8 query heads over 2 KV heads.
    /// </summary>
    [Theory]
    [MemberData(nameof(Bf16EqualsF32Cases))]
    public void Bf16_cache_equals_f32_cache_holding_the_rounded_values(IsaLevel isa, int hd, int window)
    {
        using var scope = new IsaScope(isa);
        const int nKv = 2, nHeads = 8;
        float scale = 1 / MathF.Sqrt(hd);
        int rowLen = nKv * hd;
        using var bf16 = new PagedKvCache(1, numBlocks: 160, BlockSize, nKv, hd, DType.BF16);
        using var f32 = new PagedKvCache(1, numBlocks: 160, BlockSize, nKv, hd);
        var rng = new Random(hd + window);
        var order = Enumerable.Range(0, 160).OrderBy(_ => rng.Next()).ToArray();
        foreach (var (start, count) in new[] { (516, 1), (30, 5), (0, 20) })
        {
            int total = start + count;
            var table = order.AsSpan(0, (total + BlockSize - 1) / BlockSize).ToArray();
            var k = TensorCheck.Random(total * rowLen, seed: 11 + total, range: 3);
            var v = TensorCheck.Random(total * rowLen, seed: 12 + total);
            bf16.Write(0, table, 0, k, v, total);
            f32.Write(0, table, 0, Bf16Rounding.Round(k), Bf16Rounding.Round(v), total);
            var q = TensorCheck.Random(count * nHeads * hd, seed: 13, range: 2);
            AttentionSequence[] seqs = [new AttentionSequence(0, count, start, table)];
            var fromBf16 = new float[q.Length];
            var fromF32 = new float[q.Length];
            PagedAttention.Forward(q, seqs, bf16, 0, nHeads, scale, fromBf16, window);
            PagedAttention.Forward(q, seqs, f32, 0, nHeads, scale, fromF32, window);
            Assert.Equal(fromF32, fromBf16);
        }
    }

    [Fact]
    public void Long_context_with_large_scores_stays_finite()
    {
        // Scores up to ~±400 across 300 positions: exp without the running max would overflow.
        const int hd = 64, tokens = 300;
        using var cache = new PagedKvCache(1, 80, BlockSize, 1, hd);
        var table = Enumerable.Range(0, 75).Reverse().ToArray();
        var k = TensorCheck.Random(tokens * hd, 1, range: 5);
        var v = TensorCheck.Random(tokens * hd, 2);
        cache.Write(0, table, 0, k, v, tokens);
        var q = TensorCheck.Random(hd, 3, range: 5);
        var output = new float[hd];
        PagedAttention.Forward(q, [new AttentionSequence(0, 1, tokens - 1, table)], cache, 0, 1, 1f, output);
        Assert.All(output, o => Assert.True(float.IsFinite(o) && Math.Abs(o) <= 1.0001f));
    }

    [Fact]
    public void Block_table_too_short_is_rejected()
    {
        using var cache = new PagedKvCache(1, 8, BlockSize, 1, 8);
        var ex = Assert.Throws<ArgumentException>(() =>
            PagedAttention.Forward(new float[8], [new AttentionSequence(0, 1, 4, [0])], cache, 0, 1, 1f, new float[8]));
        Assert.Contains("logical block 1", ex.Message);
    }
}
