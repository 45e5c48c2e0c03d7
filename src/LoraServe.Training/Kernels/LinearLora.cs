using System.Numerics.Tensors;
using LoraServe.Core.Kernels;
using LoraServe.Core.Tensors;
using LoraServe.Training.Model;

namespace LoraServe.Training.Kernels;

/// <summary>
/// A linear layer with an optional LoRA branch, forward and backward side by side:
/// y = x·Wᵀ + bias + s·(x·Aᵀ)·Bᵀ (DESIGN §4). Every product goes through <see cref="Gemm"/>;
/// the backward transposes one operand per product so each becomes Gemm's y = x·bᵀ form.
/// In LoRA mode W is frozen: the backward produces dX (through W and through the LoRA branch),
/// dA and dB only. In full-parameter mode it also accumulates dW and dBias.
/// </summary>
public static class LinearLora
{
    private const int SlotScaled = 0, SlotDyT = 1, SlotXT = 2, SlotBT = 3, SlotDt = 4, SlotDtT = 5, SlotAT = 6, SlotTT = 7;

    /// <summary>
    /// x: (tokens, in); w: (out, in); bias: (out) or empty; y: (tokens, out) — overwritten, or added to
    /// when <paramref name="accumulate"/> (a residual add); shrunk: (tokens, r), receives x·Aᵀ for the backward.
    /// </summary>
    public static void Forward(ReadOnlySpan<float> x, int tokens, WeightMatrix w, ReadOnlySpan<float> bias, LoraFactors? lora,
        Span<float> shrunk, Span<float> y, bool accumulate, Workspace ws)
    {
        int outDim = w.Rows;
        Gemm.MatMulTransposed(x, tokens, w, y, accumulate);
        if (!bias.IsEmpty)
            for (int t = 0; t < tokens; t++) TensorPrimitives.Add(y.Slice(t * outDim, outDim), bias, y.Slice(t * outDim, outDim));
        if (lora is null) return;
        int r = lora.Rank, inDim = lora.InFeatures;
        var t0 = shrunk.Slice(0, tokens * r);
        Gemm.MatMulTransposed(x, tokens, lora.A, r, inDim, t0);
        // The scale multiplies the small (tokens, r) product, not the (tokens, out) one.
        var scaled = ws.Get(SlotScaled, tokens * r);
        TensorPrimitives.Multiply(t0, lora.Scale, scaled);
        Gemm.MatMulTransposed(scaled, tokens, lora.B, outDim, r, y, accumulate: true);
    }

    /// <summary>
    /// dy: (tokens, out); x: (tokens, in) as in the forward; wT: Wᵀ (in, out); shrunk: the forward's x·Aᵀ.
    /// dx (tokens, in) gets dy·W + s·(dy·B)·A, overwriting or (<paramref name="accumulateDx"/>) adding.
    /// lora.GradA += s·(dy·B)ᵀ·x; lora.GradB += s·dyᵀ·(x·Aᵀ). gradW (out, in) and gradBias (out) are
    /// accumulated only when given (full-parameter mode).
    /// </summary>
    public static void Backward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, int tokens, WeightMatrix wT, LoraFactors? lora,
        ReadOnlySpan<float> shrunk, Span<float> dx, bool accumulateDx, Span<float> gradW, Span<float> gradBias, Workspace ws)
    {
        int inDim = wT.Rows, outDim = wT.Cols;
        Gemm.MatMulTransposed(dy, tokens, wT, dx, accumulateDx);

        bool needDyT = lora is not null || !gradW.IsEmpty;
        Span<float> dyT = needDyT ? ws.Get(SlotDyT, (long)outDim * tokens) : default;
        Span<float> xT = needDyT ? ws.Get(SlotXT, (long)inDim * tokens) : default;
        if (needDyT)
        {
            Transpose.Apply(dy.Slice(0, tokens * outDim), tokens, outDim, dyT);
            Transpose.Apply(x.Slice(0, tokens * inDim), tokens, inDim, xT);
        }
        if (!gradW.IsEmpty) Gemm.MatMulTransposed(dyT, outDim, xT, inDim, tokens, gradW, accumulate: true);
        if (!gradBias.IsEmpty)
            for (int t = 0; t < tokens; t++) TensorPrimitives.Add(gradBias, dy.Slice(t * outDim, outDim), gradBias);
        if (lora is null) return;

        int r = lora.Rank;
        float s = lora.Scale;
        // dB += s·dyᵀ·t  — (out, tokens)·(tokens, r), with tᵀ scaled on the small side.
        var tT = ws.Get(SlotTT, (long)r * tokens);
        Transpose.Apply(shrunk.Slice(0, tokens * r), tokens, r, tT);
        TensorPrimitives.Multiply(tT, s, tT);
        Gemm.MatMulTransposed(dyT, outDim, tT, r, tokens, lora.GradB, accumulate: true);

        // dt = s·dy·B  — (tokens, out)·(out, r)
        var bT = ws.Get(SlotBT, (long)r * outDim);
        Transpose.Apply<float>(lora.B, outDim, r, bT);
        var dt = ws.Get(SlotDt, (long)tokens * r);
        Gemm.MatMulTransposed(dy, tokens, bT, r, outDim, dt);
        TensorPrimitives.Multiply(dt, s, dt);

        // dA += dtᵀ·x  — (r, tokens)·(tokens, in)
        var dtT = ws.Get(SlotDtT, (long)r * tokens);
        Transpose.Apply<float>(dt, tokens, r, dtT);
        Gemm.MatMulTransposed(dtT, r, xT, inDim, tokens, lora.GradA, accumulate: true);

        // dx += dt·A  — (tokens, r)·(r, in)
        var aT = ws.Get(SlotAT, (long)inDim * r);
        Transpose.Apply<float>(lora.A, r, inDim, aT);
        Gemm.MatMulTransposed(dt, tokens, aT, inDim, r, dx, accumulate: true);
    }
}
