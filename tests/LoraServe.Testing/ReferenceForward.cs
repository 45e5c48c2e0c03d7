using LoraServe.Core.Tensors;
using LoraServe.Models.Config;
using LoraServe.Models.Llama;

namespace LoraServe.Testing;

/// <summary>
/// A deliberately naive float64 Llama forward for one sequence, written from the HF
/// modeling_llama / modeling_qwen2 / modeling_mistral equations, sharing no code with the engine:
/// contiguous K/V, full recomputation, no batching, no paging. For a BF16 model, K (after RoPE)
/// and V are rounded to bfloat16 as its KV cache stores them (vLLM's kv_cache_dtype="auto").
/// </summary>
public static class ReferenceForward
{
    /// <summary>Returns logits (tokens, vocab) for every position of <paramref name="tokens"/>.</summary>
    public static double[,] Logits(InMemoryModel m, int[] tokens, IReadOnlyDictionary<(int Layer, LinearKind Kind), ReferenceLoraModule>? lora = null)
    {
        var c = m.Config;
        int T = tokens.Length, H = c.HiddenSize, hd = c.HeadDim, nh = c.NumHeads, nkv = c.NumKvHeads, I = c.IntermediateSize;
        var x = new double[T, H];
        for (int t = 0; t < T; t++) for (int i = 0; i < H; i++) x[t, i] = m.Embedding[tokens[t] * H + i];
        var invFreq = InverseFrequencies(c);

        for (int layer = 0; layer < m.Layers.Length; layer++)
        {
            var L = m.Layers[layer];
            ReferenceLoraModule? Lora(LinearKind kind) => lora is not null && lora.TryGetValue((layer, kind), out var mod) ? mod : null;
            var xn = RmsNorm(x, L.InputNorm, c.RmsNormEps);
            var q = Linear(xn, L.Q, nh * hd, L.QBias, Lora(LinearKind.Q));
            var k = Linear(xn, L.K, nkv * hd, L.KBias, Lora(LinearKind.K));
            var v = Linear(xn, L.V, nkv * hd, L.VBias, Lora(LinearKind.V));
            Rotate(q, nh, hd, invFreq);
            Rotate(k, nkv, hd, invFreq);
            if (m.DType == DType.BF16)
            {
                RoundToBFloat16(k);
                RoundToBFloat16(v);
            }
            var attn = new double[T, nh * hd];
            for (int t = 0; t < T; t++)
                for (int h = 0; h < nh; h++)
                {
                    int g = h / (nh / nkv);
                    int first = c.SlidingWindow > 0 ? Math.Max(0, t - c.SlidingWindow + 1) : 0;
                    var s = new double[t + 1];
                    double max = double.NegativeInfinity;
                    for (int p = first; p <= t; p++)
                    {
                        double d = 0;
                        for (int i = 0; i < hd; i++) d += q[t, h * hd + i] * k[p, g * hd + i];
                        s[p] = d / Math.Sqrt(hd);
                        max = Math.Max(max, s[p]);
                    }
                    double z = 0;
                    for (int p = first; p <= t; p++) { s[p] = Math.Exp(s[p] - max); z += s[p]; }
                    for (int p = first; p <= t; p++)
                        for (int i = 0; i < hd; i++) attn[t, h * hd + i] += s[p] / z * v[p, g * hd + i];
                }
            var o = Linear(attn, L.O, H, L.OBias, Lora(LinearKind.O));
            for (int t = 0; t < T; t++) for (int i = 0; i < H; i++) x[t, i] += o[t, i];

            xn = RmsNorm(x, L.PostNorm, c.RmsNormEps);
            var gate = Linear(xn, L.Gate, I, null, Lora(LinearKind.Gate));
            var up = Linear(xn, L.Up, I, null, Lora(LinearKind.Up));
            for (int t = 0; t < T; t++) for (int i = 0; i < I; i++) gate[t, i] = gate[t, i] / (1 + Math.Exp(-gate[t, i])) * up[t, i];
            var down = Linear(gate, L.Down, H, null, Lora(LinearKind.Down));
            for (int t = 0; t < T; t++) for (int i = 0; i < H; i++) x[t, i] += down[t, i];
        }
        var f = RmsNorm(x, m.FinalNorm, c.RmsNormEps);
        return Linear(f, m.LmHead, c.VocabSize, null);
    }

    /// <summary>HF default rope init, then _compute_llama3_parameters when rope_scaling is llama3.</summary>
    private static double[] InverseFrequencies(ModelConfig c)
    {
        int half = c.HeadDim / 2;
        var inv = new double[half];
        for (int i = 0; i < half; i++)
        {
            double f = 1.0 / Math.Pow(c.RopeTheta, 2.0 * i / c.HeadDim);
            if (c.RopeScaling is { } s)
            {
                double wavelen = 2 * Math.PI / f;
                double lowWavelen = s.OriginalMaxPositionEmbeddings / s.LowFreqFactor;
                double highWavelen = s.OriginalMaxPositionEmbeddings / s.HighFreqFactor;
                if (wavelen < highWavelen) { }
                else if (wavelen > lowWavelen) f /= s.Factor;
                else
                {
                    double smooth = (s.OriginalMaxPositionEmbeddings / wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
                    f = (1 - smooth) * (f / s.Factor) + smooth * f;
                }
            }
            inv[i] = f;
        }
        return inv;
    }

    private static void Rotate(double[,] x, int heads, int hd, double[] invFreq)
    {
        int half = hd / 2;
        for (int t = 0; t < x.GetLength(0); t++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < half; i++)
                {
                    double a = t * invFreq[i], cos = Math.Cos(a), sin = Math.Sin(a);
                    double x1 = x[t, h * hd + i], x2 = x[t, h * hd + i + half];
                    x[t, h * hd + i] = x1 * cos - x2 * sin;
                    x[t, h * hd + i + half] = x2 * cos + x1 * sin;
                }
    }

    private static void RoundToBFloat16(double[,] x)
    {
        for (int t = 0; t < x.GetLength(0); t++)
            for (int i = 0; i < x.GetLength(1); i++) x[t, i] = Bf16Rounding.Round((float)x[t, i]);
    }

    private static double[,] RmsNorm(double[,] x, float[] w, float eps)
    {
        int T = x.GetLength(0), H = x.GetLength(1);
        var y = new double[T, H];
        for (int t = 0; t < T; t++)
        {
            double ss = 0;
            for (int i = 0; i < H; i++) ss += x[t, i] * x[t, i];
            double r = 1 / Math.Sqrt(ss / H + eps);
            for (int i = 0; i < H; i++) y[t, i] = x[t, i] * r * w[i];
        }
        return y;
    }

    /// <summary>
    /// y = x·Wᵀ + b + s·(x·Aᵀ)·Bᵀ with W stored (outDim, inDim) row-major as nn.Linear does, and
    /// PEFT's lora_A (r, in) and lora_B (out, r) when a LoRA module targets this layer.
    /// </summary>
    private static double[,] Linear(double[,] x, float[] w, int outDim, float[]? b, ReferenceLoraModule? lora = null)
    {
        int T = x.GetLength(0), inDim = x.GetLength(1);
        var y = new double[T, outDim];
        for (int t = 0; t < T; t++)
            for (int o = 0; o < outDim; o++)
            {
                double s = b?[o] ?? 0;
                for (int i = 0; i < inDim; i++) s += x[t, i] * w[o * inDim + i];
                y[t, o] = s;
            }
        if (lora is null) return y;
        int r = lora.Rank;
        for (int t = 0; t < T; t++)
        {
            var shrunk = new double[r];
            for (int j = 0; j < r; j++)
                for (int i = 0; i < inDim; i++) shrunk[j] += x[t, i] * lora.A[j * inDim + i];
            for (int o = 0; o < outDim; o++)
            {
                double s = 0;
                for (int j = 0; j < r; j++) s += shrunk[j] * lora.B[o * r + j];
                y[t, o] += lora.Scale * s;
            }
        }
        return y;
    }
}
