namespace LoraServe.Training.Model;

/// <summary>
/// What one decoder layer's forward saves for its backward. Arrays only grow, so a run of
/// equal-shaped steps allocates once. (tokens = T, hidden = H, q/kv dims, intermediate = I.)
/// </summary>
internal sealed class LayerActivations
{
    /// <summary>Residual stream entering the layer, (T, H).</summary>
    public float[] XIn = [];
    /// <summary>1/rms of XIn and of XMid, (T).</summary>
    public float[] Inv1 = [], Inv2 = [];
    /// <summary>Normed inputs of the attention and MLP blocks, (T, H).</summary>
    public float[] N1 = [], N2 = [];
    /// <summary>q, k after RoPE and v, (T, qDim / kvDim).</summary>
    public float[] Q = [], K = [], V = [];
    /// <summary>Attention probabilities, Σ heads·len².</summary>
    public float[] P = [];
    /// <summary>Attention output before o_proj, (T, qDim).</summary>
    public float[] Att = [];
    /// <summary>Residual after the attention block, (T, H).</summary>
    public float[] XMid = [];
    /// <summary>gate and up projections and silu(gate)·up, (T, I).</summary>
    public float[] Gate = [], Up = [], Act = [];
    /// <summary>x·Aᵀ of each LoRA module, (T, r), by LinearKind; empty when not adapted.</summary>
    public readonly float[][] Shrunk = new float[7][];

    public void Ensure(int tokens, int hidden, int qDim, int kvDim, int inter, long probFloats, LoraSet? lora, int layer)
    {
        Grow(ref XIn, tokens * hidden); Grow(ref Inv1, tokens); Grow(ref Inv2, tokens);
        Grow(ref N1, tokens * hidden); Grow(ref N2, tokens * hidden);
        Grow(ref Q, tokens * qDim); Grow(ref K, tokens * kvDim); Grow(ref V, tokens * kvDim);
        Grow(ref P, checked((int)probFloats)); Grow(ref Att, tokens * qDim); Grow(ref XMid, tokens * hidden);
        Grow(ref Gate, tokens * inter); Grow(ref Up, tokens * inter); Grow(ref Act, tokens * inter);
        for (int k = 0; k < Shrunk.Length; k++)
        {
            Shrunk[k] ??= [];
            var m = lora?.Get(layer, (Models.Llama.LinearKind)k);
            if (m is not null) Grow(ref Shrunk[k], tokens * m.Rank);
        }
    }

    private static void Grow(ref float[] a, int length)
    {
        if (a.Length < length) a = GC.AllocateUninitializedArray<float>(length);
    }
}
