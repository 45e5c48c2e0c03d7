using LoraServe.Core.Kernels;
using LoraServe.Core.Tensors;
using LoraServe.Models.Config;
using LoraServe.Models.Llama;
using LoraServe.Models.Weights;
using LoraServe.Training.Kernels;

namespace LoraServe.Training.Model;

/// <summary>
/// The Llama decoder for training: a forward over whole sequences that saves what the backward
/// needs, and the backward through every op in reverse (DESIGN §4 math, HF LlamaForCausalLM
/// semantics). In LoRA mode (<see cref="Lora"/> set) the base weights are frozen and have no
/// gradient buffers: gradients flow through Wᵀ copies to the inputs and land only in A and B.
/// In full-parameter mode (<see cref="Full"/> set) every weight gets a gradient.
/// Not thread-safe; the kernels inside use the kernel thread pool.
/// </summary>
public sealed class TrainingModel : IDisposable
{
    private const int SlotLogits = 16, SlotDh = 17, SlotDAct = 18, SlotDGate = 19, SlotDUp = 20, SlotDN = 21,
        SlotDAtt = 22, SlotDq = 23, SlotDk = 24, SlotDv = 25, SlotFinal = 26, SlotNormedF = 27, SlotInvF = 28,
        SlotGather = 29, SlotDGather = 30, SlotDlT = 31, SlotNfT = 32;

    /// <summary>Rows of logits materialised at once: bounds the (rows, vocab) buffer (256 × 49152 × 4 B = 48 MiB).</summary>
    private const int LogitChunkRows = 256;

    private readonly LlamaWeights _w;
    private readonly TransposedWeight[][] _wT;
    private readonly TransposedWeight _lmHeadT;
    private readonly RopeTraining _rope;
    private readonly LayerActivations[] _acts;
    private readonly Workspace _ws = new();
    private TrainingBatch? _saved;
    private double[] _losses = [];

    public TrainingModel(LlamaWeights weights, LoraSet? lora, FullParameters? full, int maxPositions)
    {
        if ((lora is null) == (full is null)) throw new ArgumentException("exactly one of LoRA or full-parameter training");
        if (full is not null && !ReferenceEquals(full.Weights, weights)) throw new ArgumentException("full-parameter training must run on FullParameters.Weights");
        _w = weights;
        Config = weights.Config;
        Lora = lora;
        Full = full;
        _wT = new TransposedWeight[Config.NumLayers][];
        for (int l = 0; l < Config.NumLayers; l++)
        {
            var lw = weights.Layers[l];
            _wT[l] = [new(lw.Q), new(lw.K), new(lw.V), new(lw.O), new(lw.Gate), new(lw.Up), new(lw.Down)];
        }
        _lmHeadT = new TransposedWeight(weights.LmHead);
        _rope = new RopeTraining(Config.HeadDim, Config.RopeTheta, Config.RopeScaling, maxPositions);
        _acts = new LayerActivations[Config.NumLayers];
        for (int l = 0; l < _acts.Length; l++) _acts[l] = new LayerActivations();
    }

    public ModelConfig Config { get; }
    public LoraSet? Lora { get; }
    public FullParameters? Full { get; }
    public int MaxPositions => _rope.MaxPositions;

    /// <summary>The trainable tensors of this mode, in their fixed order.</summary>
    public IReadOnlyList<TrainableTensor> Parameters() => Lora?.Tensors() ?? Full!.Tensors;

    /// <summary>After the optimizer changed full-parameter weights, the Wᵀ copies must follow.</summary>
    public void WeightsChanged()
    {
        if (Full is null) return;
        foreach (var layer in _wT) foreach (var t in layer) t.Refresh();
        _lmHeadT.Refresh();
    }

    /// <summary>
    /// Forward and backward of lossWeight·Σ cross-entropy over the batch's target rows; gradients are
    /// added to the trainable tensors' Grad arrays. Returns the unweighted loss sum (in nats).
    /// </summary>
    public double ForwardBackward(TrainingBatch batch, float lossWeight)
    {
        Forward(batch);
        return LossAndBackward(batch, lossWeight, backward: true);
    }

    /// <summary>Loss sum over the batch's target rows without touching gradients (evaluation).</summary>
    public double Loss(TrainingBatch batch)
    {
        Forward(batch);
        return LossAndBackward(batch, 1f, backward: false);
    }

    private void Forward(TrainingBatch batch)
    {
        var c = Config;
        if (c.SlidingWindow > 0 && batch.MaxLength > c.SlidingWindow)
            throw new NotSupportedException($"sequences of {batch.MaxLength} tokens exceed the sliding window {c.SlidingWindow}; training uses full causal attention");
        if (batch.MaxLength > MaxPositions) throw new ArgumentException($"a sequence of {batch.MaxLength} tokens exceeds the {MaxPositions} positions this model was set up for");
        int T = batch.TokenCount, H = c.HiddenSize, qd = c.NumHeads * c.HeadDim, kvd = c.NumKvHeads * c.HeadDim, I = c.IntermediateSize;
        long probs = CausalAttention.ProbabilityFloats(batch.Lengths, c.NumHeads);
        float scale = 1f / MathF.Sqrt(c.HeadDim);
        for (int l = 0; l < c.NumLayers; l++) _acts[l].Ensure(T, H, qd, kvd, I, probs, Lora, l);

        Embedding.Forward(_w.Embedding, batch.Tokens, _acts[0].XIn);
        var final = _ws.Get(SlotFinal, (long)T * H);
        for (int l = 0; l < c.NumLayers; l++)
        {
            var a = _acts[l];
            var w = _w.Layers[l];
            RmsNormTraining.Forward(a.XIn, w.InputNorm, c.RmsNormEps, a.N1, a.Inv1, T);
            LinearLora.Forward(a.N1, T, w.Q, w.QBias, Lora?.Get(l, LinearKind.Q), a.Shrunk[0], a.Q, false, _ws);
            LinearLora.Forward(a.N1, T, w.K, w.KBias, Lora?.Get(l, LinearKind.K), a.Shrunk[1], a.K, false, _ws);
            LinearLora.Forward(a.N1, T, w.V, w.VBias, Lora?.Get(l, LinearKind.V), a.Shrunk[2], a.V, false, _ws);
            _rope.Forward(a.Q, batch.Positions, c.NumHeads);
            _rope.Forward(a.K, batch.Positions, c.NumKvHeads);
            CausalAttention.Forward(a.Q, a.K, a.V, batch.Lengths, c.NumHeads, c.NumKvHeads, c.HeadDim, scale, a.P, a.Att);
            a.XIn.AsSpan(0, T * H).CopyTo(a.XMid);
            LinearLora.Forward(a.Att, T, w.O, w.OBias, Lora?.Get(l, LinearKind.O), a.Shrunk[3], a.XMid, true, _ws);
            RmsNormTraining.Forward(a.XMid, w.PostAttentionNorm, c.RmsNormEps, a.N2, a.Inv2, T);
            LinearLora.Forward(a.N2, T, w.Gate, w.GateBias, Lora?.Get(l, LinearKind.Gate), a.Shrunk[4], a.Gate, false, _ws);
            LinearLora.Forward(a.N2, T, w.Up, w.UpBias, Lora?.Get(l, LinearKind.Up), a.Shrunk[5], a.Up, false, _ws);
            SwiGlu.Forward(a.Gate.AsSpan(0, T * I), a.Up, a.Act);
            var next = l + 1 < c.NumLayers ? _acts[l + 1].XIn.AsSpan(0, T * H) : final;
            a.XMid.AsSpan(0, T * H).CopyTo(next);
            LinearLora.Forward(a.Act, T, w.Down, w.DownBias, Lora?.Get(l, LinearKind.Down), a.Shrunk[6], next, true, _ws);
        }
        _saved = batch;
    }

    private double LossAndBackward(TrainingBatch batch, float lossWeight, bool backward)
    {
        var c = Config;
        int T = batch.TokenCount, H = c.HiddenSize, V = c.VocabSize;
        var final = _ws.Get(SlotFinal, (long)T * H);
        var normed = _ws.Get(SlotNormedF, (long)T * H);
        var inv = _ws.Get(SlotInvF, T);
        RmsNormTraining.Forward(final, _w.FinalNorm, c.RmsNormEps, normed, inv, T);

        // Only rows with a target need logits: prompt rows skip lm_head entirely.
        var rows = new List<int>(batch.LossTokens);
        for (int i = 0; i < T; i++) if (batch.Targets[i] >= 0) rows.Add(i);
        if (_losses.Length < rows.Count) _losses = new double[rows.Count];
        var dNormed = backward ? _ws.Get(SlotDh, (long)T * H) : default;
        if (backward) dNormed.Clear();
        Span<int> targets = rows.Count <= 4096 ? stackalloc int[rows.Count] : new int[rows.Count];
        for (int i = 0; i < rows.Count; i++) targets[i] = batch.Targets[rows[i]];

        for (int start = 0; start < rows.Count; start += LogitChunkRows)
        {
            int n = Math.Min(LogitChunkRows, rows.Count - start);
            var x = _ws.Get(SlotGather, (long)n * H);
            for (int i = 0; i < n; i++) normed.Slice(rows[start + i] * H, H).CopyTo(x.Slice(i * H, H));
            var logits = _ws.Get(SlotLogits, (long)n * V);
            Gemm.MatMulTransposed(x, n, _w.LmHead, logits);
            CrossEntropy.ForwardBackward(logits, targets.Slice(start, n), V, lossWeight, _losses.AsSpan(start, n));
            if (!backward) continue;
            var dx = _ws.Get(SlotDGather, (long)n * H);
            Gemm.MatMulTransposed(logits, n, _lmHeadT.Matrix, dx);
            for (int i = 0; i < n; i++) dx.Slice(i * H, H).CopyTo(dNormed.Slice(rows[start + i] * H, H));
            if (Full is not null)
            {
                // dW_lm += dlogitsᵀ·x — (V, n)·(n, H)
                var dlT = _ws.Get(SlotDlT, (long)V * n);
                var xT = _ws.Get(SlotNfT, (long)H * n);
                Transpose.Apply<float>(logits, n, V, dlT);
                Transpose.Apply<float>(x, n, H, xT);
                Gemm.MatMulTransposed(dlT, V, xT, H, n, Full.LmHeadGrad, accumulate: true);
            }
        }
        double loss = 0;
        for (int i = 0; i < rows.Count; i++) loss += _losses[i];
        if (!backward) return loss;

        // dNormed holds d(loss)/d(final normed); turn it into d/d(final residual) in a separate buffer.
        var dh = _ws.Get(SlotDGather, (long)T * H);
        dh.Clear();
        RmsNormTraining.Backward(dNormed, final, _w.FinalNorm, inv, dh, Full?.FinalNormGrad, T);
        Backward(batch, dh);
        return loss;
    }

    private void Backward(TrainingBatch batch, Span<float> dh)
    {
        if (!ReferenceEquals(batch, _saved)) throw new InvalidOperationException("backward of a batch whose forward is not the last one run");
        var c = Config;
        int T = batch.TokenCount, H = c.HiddenSize, qd = c.NumHeads * c.HeadDim, kvd = c.NumKvHeads * c.HeadDim, I = c.IntermediateSize;
        float scale = 1f / MathF.Sqrt(c.HeadDim);
        var dAct = _ws.Get(SlotDAct, (long)T * I);
        var dGate = _ws.Get(SlotDGate, (long)T * I);
        var dUp = _ws.Get(SlotDUp, (long)T * I);
        var dN = _ws.Get(SlotDN, (long)T * H);
        var dAtt = _ws.Get(SlotDAtt, (long)T * qd);
        var dq = _ws.Get(SlotDq, (long)T * qd);
        var dk = _ws.Get(SlotDk, (long)T * kvd);
        var dv = _ws.Get(SlotDv, (long)T * kvd);
        for (int l = c.NumLayers - 1; l >= 0; l--)
        {
            var a = _acts[l];
            var w = _w.Layers[l];
            var wT = _wT[l];
            var g = Full?.Layers[l];
            // MLP block: XOut = XMid + down(silu(gate)·up); dh is d/dXOut and, by the residual, part of d/dXMid.
            LinearLora.Backward(dh, a.Act, T, wT[6].Matrix, Lora?.Get(l, LinearKind.Down), a.Shrunk[6], dAct, false, Grad(g, LinearKind.Down), default, _ws);
            SwiGlu.Backward(dAct, a.Gate.AsSpan(0, T * I), a.Up, dGate, dUp);
            LinearLora.Backward(dGate, a.N2, T, wT[4].Matrix, Lora?.Get(l, LinearKind.Gate), a.Shrunk[4], dN, false, Grad(g, LinearKind.Gate), default, _ws);
            LinearLora.Backward(dUp, a.N2, T, wT[5].Matrix, Lora?.Get(l, LinearKind.Up), a.Shrunk[5], dN, true, Grad(g, LinearKind.Up), default, _ws);
            RmsNormTraining.Backward(dN, a.XMid, w.PostAttentionNorm, a.Inv2, dh, g?.PostNorm, T);

            // Attention block: XMid = XIn + o_proj(attention(rope(q), rope(k), v)).
            LinearLora.Backward(dh, a.Att, T, wT[3].Matrix, Lora?.Get(l, LinearKind.O), a.Shrunk[3], dAtt, false, Grad(g, LinearKind.O), default, _ws);
            CausalAttention.Backward(dAtt, a.Q, a.K, a.V, a.P, batch.Lengths, c.NumHeads, c.NumKvHeads, c.HeadDim, scale, dq, dk, dv);
            _rope.Backward(dq, batch.Positions, c.NumHeads);
            _rope.Backward(dk, batch.Positions, c.NumKvHeads);
            LinearLora.Backward(dq, a.N1, T, wT[0].Matrix, Lora?.Get(l, LinearKind.Q), a.Shrunk[0], dN, false, Grad(g, LinearKind.Q), default, _ws);
            LinearLora.Backward(dk, a.N1, T, wT[1].Matrix, Lora?.Get(l, LinearKind.K), a.Shrunk[1], dN, true, Grad(g, LinearKind.K), default, _ws);
            LinearLora.Backward(dv, a.N1, T, wT[2].Matrix, Lora?.Get(l, LinearKind.V), a.Shrunk[2], dN, true, Grad(g, LinearKind.V), default, _ws);
            RmsNormTraining.Backward(dN, a.XIn, w.InputNorm, a.Inv1, dh, g?.InputNorm, T);
        }
        if (Full is not null) Embedding.Backward(dh, batch.Tokens, H, Full.EmbeddingGrad);
    }

    private static Span<float> Grad(FullParameters.LayerGrads? g, LinearKind kind) => g is null ? default : g.Linear[(int)kind];

    public void Dispose()
    {
        foreach (var layer in _wT) foreach (var t in layer) t.Dispose();
        _lmHeadT.Dispose();
    }
}
