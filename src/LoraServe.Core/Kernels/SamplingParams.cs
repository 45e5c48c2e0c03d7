namespace LoraServe.Core.Kernels;

/// <summary>
/// How to pick the next token. Temperature 0 means greedy. TopK 0 (or ≥ vocab) and TopP 1
/// disable those filters. Seed makes sampling reproducible per request.
/// </summary>
public sealed record SamplingParams(float Temperature = 1f, float TopP = 1f, int TopK = 0, ulong? Seed = null)
{
    public static SamplingParams Greedy { get; } = new(Temperature: 0f);

    public void Validate()
    {
        if (!(Temperature >= 0) || float.IsInfinity(Temperature)) throw new ArgumentException($"temperature must be a finite number ≥ 0, got {Temperature}");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentException($"top_p must be in (0, 1], got {TopP}");
        if (TopK < 0) throw new ArgumentException($"top_k must be ≥ 0 (0 disables), got {TopK}");
    }
}
