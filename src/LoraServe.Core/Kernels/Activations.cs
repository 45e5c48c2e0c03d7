namespace LoraServe.Core.Kernels;

public static class Activations
{
    /// <summary>SiLU-gated MLP middle: gate[i] = silu(gate[i]) · up[i]; silu(x) = x / (1 + e^-x).</summary>
    public static void SiluMul(Span<float> gate, ReadOnlySpan<float> up)
    {
        if (up.Length < gate.Length) throw new ArgumentException("up shorter than gate", nameof(up));
        for (int i = 0; i < gate.Length; i++)
        {
            float g = gate[i];
            gate[i] = g / (1f + MathF.Exp(-g)) * up[i];
        }
    }
}
