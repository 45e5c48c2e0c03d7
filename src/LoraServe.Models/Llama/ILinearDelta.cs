namespace LoraServe.Models.Llama;

/// <summary>
/// A per-row additive correction to a layer's projection outputs — the seam through which the
/// LoRA layer adds s·(x·Aᵀ)·Bᵀ for each row's adapter without the model knowing about adapters.
/// </summary>
public interface ILinearDelta
{
    /// <summary>
    /// x: (tokens, in) — the projection's input rows; y: (tokens, out) — its output rows (for o_proj and
    /// down_proj, the residual stream the output was added into), to add the correction to.
    /// </summary>
    void Apply(int layer, LinearKind kind, ReadOnlySpan<float> x, Span<float> y, int tokens);
}
