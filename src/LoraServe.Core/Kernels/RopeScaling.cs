namespace LoraServe.Core.Kernels;

/// <summary>
/// rope_scaling of type "llama3" (Llama 3.1): long wavelengths divided by <see cref="Factor"/>,
/// short ones kept, a smooth blend between (HF _compute_llama3_parameters).
/// </summary>
public sealed record Llama3RopeScaling(double Factor, double LowFreqFactor, double HighFreqFactor, int OriginalMaxPositionEmbeddings);
