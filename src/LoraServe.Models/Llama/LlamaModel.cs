using LoraServe.Core.Kernels;
using LoraServe.Core.Kv;
using LoraServe.Core.Tensors;
using LoraServe.Models.Config;
using LoraServe.Models.Weights;

namespace LoraServe.Models.Llama;

/// <summary>
/// The Llama-family decoder (llama, mistral, qwen2) over a flattened token batch with a paged KV
/// cache — HF LlamaForCausalLM's math: pre-norm blocks, RoPE (rotate_half), grouped-query
/// attention, SiLU-gated MLP, final RMSNorm, lm_head. Not thread-safe: one engine thread
/// drives it; the kernels inside use all cores.
/// </summary>
public sealed class LlamaModel : IDisposable
{
    private readonly Rope _rope;
    private readonly ForwardWorkspace _ws;

    public LlamaModel(LlamaWeights weights)
    {
        Weights = weights;
        Config = weights.Config;
        _rope = new Rope(Config.HeadDim, Config.RopeTheta, Config.RopeScaling);
        _ws = new ForwardWorkspace(Config);
    }

    public LlamaWeights Weights { get; }

    public ModelConfig Config { get; }

    /// <summary>When set, every forward pass adds its time per phase to it (for benchmarks; null by default).</summary>
    public ForwardProfile? Profile { get; set; }

    /// <summary>
    /// Allocates a paged KV cache shaped for this model, in <see cref="KvCacheDType"/>.
    /// </summary>
    public PagedKvCache CreateKvCache(int numBlocks, int blockSize = 16) =>
        new(Config.NumLayers, numBlocks, blockSize, Config.NumKvHeads, Config.HeadDim, KvCacheDType);

    /// <summary>
    /// The KV cache's element type: BF16 when the projections are BF16 (vLLM's kv_cache_dtype="auto":
    /// the model's dtype), F32 otherwise.
    /// </summary>
    public DType KvCacheDType => Weights.Layers[0].Q.DType == DType.BF16 ? DType.BF16 : DType.F32;

    /// <summary>
    /// Runs one step: writes every row's K/V into <paramref name="cache"/> and fills
    /// <paramref name="logits"/> (batch.LogitRows.Length, vocab) with float32 logits.
    /// </summary>
    public void Forward(ForwardBatch batch, PagedKvCache cache, Span<float> logits)
    {
        var c = Config;
        int tokens = batch.TokenCount, hidden = c.HiddenSize, vocab = c.VocabSize;
        if (logits.Length < batch.LogitRows.Length * vocab)
            throw new ArgumentException($"logits buffer holds {logits.Length} floats, needs {batch.LogitRows.Length}x{vocab}", nameof(logits));
        if (cache.NumKvHeads != c.NumKvHeads || cache.HeadDim != c.HeadDim || cache.Layers != c.NumLayers)
            throw new ArgumentException("KV cache shape does not match the model", nameof(cache));
        foreach (var s in batch.Sequences)
        {
            int needed = cache.BlocksFor(s.StartPosition + s.TokenCount);
            if (s.BlockTable.Length < needed)
                throw new ArgumentException($"sequence at offset {s.TokenOffset} needs {needed} KV blocks for {s.StartPosition + s.TokenCount} positions, block table has {s.BlockTable.Length}");
        }

        var profile = Profile;
        long mark = profile is null ? 0 : System.Diagnostics.Stopwatch.GetTimestamp();
        _ws.EnsureTokens(tokens);
        var h = _ws.Hidden.AsSpan(0, tokens * hidden);
        Embed(batch.TokenIds, h);

        int qDim = c.NumHeads * c.HeadDim, kvDim = c.NumKvHeads * c.HeadDim, inter = c.IntermediateSize;
        var normed = _ws.Normed.AsSpan(0, tokens * hidden);
        var q = _ws.Q.AsSpan(0, tokens * qDim);
        var k = _ws.K.AsSpan(0, tokens * kvDim);
        var v = _ws.V.AsSpan(0, tokens * kvDim);
        var attn = _ws.Attention.AsSpan(0, tokens * qDim);
        var gate = _ws.Gate.AsSpan(0, tokens * inter);
        var up = _ws.Up.AsSpan(0, tokens * inter);
        float scale = 1f / MathF.Sqrt(c.HeadDim);

        for (int l = 0; l < c.NumLayers; l++)
        {
            var w = Weights.Layers[l];
            RmsNorm.Apply(h, w.InputNorm, c.RmsNormEps, normed, tokens);
            if (profile is not null) mark = profile.Charge(ForwardPhase.Other, mark);
            // q/k/v (and gate/up below) share their input: one call, which at batch-1 decode is one
            // kernel launch over the three matrices (Gemm's shared-input overloads).
            Gemm.MatMulTransposed(normed, tokens, w.Q, q, w.K, k, w.V, v);
            if (profile is not null) mark = profile.Charge(ForwardPhase.QkvProjection, mark);
            if (w.QBias is not null) AddBias(q, w.QBias, tokens);
            if (w.KBias is not null) AddBias(k, w.KBias, tokens);
            if (w.VBias is not null) AddBias(v, w.VBias, tokens);
            if (batch.Delta is { } d)
            {
                d.Apply(l, LinearKind.Q, normed, q, tokens);
                d.Apply(l, LinearKind.K, normed, k, tokens);
                d.Apply(l, LinearKind.V, normed, v, tokens);
            }
            if (profile is not null) mark = profile.Charge(ForwardPhase.Other, mark);
            _rope.Apply(q, batch.Positions, c.NumHeads);
            _rope.Apply(k, batch.Positions, c.NumKvHeads);
            foreach (var s in batch.Sequences)
                cache.Write(l, s.BlockTable, s.StartPosition, k.Slice(s.TokenOffset * kvDim), v.Slice(s.TokenOffset * kvDim), s.TokenCount);
            if (profile is not null) mark = profile.Charge(ForwardPhase.RopeAndKvWrite, mark);
            PagedAttention.Forward(q, batch.Sequences, cache, l, c.NumHeads, scale, attn, c.SlidingWindow);
            if (profile is not null) mark = profile.Charge(ForwardPhase.Attention, mark);
            // Residual add fused into the GEMM: h += attn·Woᵀ.
            Gemm.MatMulTransposed(attn, tokens, w.O, h, accumulate: true);
            if (profile is not null) mark = profile.Charge(ForwardPhase.OutputProjection, mark);
            if (w.OBias is not null) AddBias(h, w.OBias, tokens);
            batch.Delta?.Apply(l, LinearKind.O, attn, h, tokens);

            RmsNorm.Apply(h, w.PostAttentionNorm, c.RmsNormEps, normed, tokens);
            if (profile is not null) mark = profile.Charge(ForwardPhase.Other, mark);
            Gemm.MatMulTransposed(normed, tokens, w.Gate, gate, w.Up, up);
            if (profile is not null) mark = profile.Charge(ForwardPhase.GateUpProjection, mark);
            if (w.GateBias is not null) AddBias(gate, w.GateBias, tokens);
            if (w.UpBias is not null) AddBias(up, w.UpBias, tokens);
            if (batch.Delta is { } dm)
            {
                dm.Apply(l, LinearKind.Gate, normed, gate, tokens);
                dm.Apply(l, LinearKind.Up, normed, up, tokens);
            }
            Activations.SiluMul(gate, up);
            if (profile is not null) mark = profile.Charge(ForwardPhase.Other, mark);
            Gemm.MatMulTransposed(gate, tokens, w.Down, h, accumulate: true);
            if (profile is not null) mark = profile.Charge(ForwardPhase.DownProjection, mark);
            if (w.DownBias is not null) AddBias(h, w.DownBias, tokens);
            batch.Delta?.Apply(l, LinearKind.Down, gate, h, tokens);
        }

        // Only the rows whose logits are wanted pass through the final norm and lm_head:
        // in a prefill chunk that is one row of many.
        int rows = batch.LogitRows.Length;
        var last = _ws.Normed.AsSpan(0, rows * hidden);
        for (int i = 0; i < rows; i++) h.Slice(batch.LogitRows[i] * hidden, hidden).CopyTo(_ws.Gather.AsSpan(i * hidden, hidden));
        RmsNorm.Apply(_ws.Gather.AsSpan(0, rows * hidden), Weights.FinalNorm, c.RmsNormEps, last, rows);
        if (profile is not null) mark = profile.Charge(ForwardPhase.Other, mark);
        Gemm.MatMulTransposed(last, rows, Weights.LmHead, logits.Slice(0, rows * vocab));
        profile?.Charge(ForwardPhase.LmHead, mark);
    }

    private void Embed(ReadOnlySpan<int> tokenIds, Span<float> h)
    {
        int hidden = Config.HiddenSize, vocab = Weights.Embedding.Rows;
        for (int t = 0; t < tokenIds.Length; t++)
        {
            int id = tokenIds[t];
            if ((uint)id >= (uint)vocab) throw new ArgumentOutOfRangeException(nameof(tokenIds), id, $"token id {id} at row {t} is outside the vocabulary of {vocab}");
            Weights.Embedding.ReadRow(id, h.Slice(t * hidden, hidden));
        }
    }

    private static void AddBias(Span<float> y, ReadOnlySpan<float> bias, int rows)
    {
        int n = bias.Length;
        for (int r = 0; r < rows; r++) System.Numerics.Tensors.TensorPrimitives.Add(y.Slice(r * n, n), bias, y.Slice(r * n, n));
    }

    public void Dispose() => Weights.Dispose();
}
