namespace LoraServe.Lora.Registry;

/// <summary>Bounds of the host adapter cache, named after vLLM's flags.</summary>
public sealed record AdapterRegistryOptions
{
    /// <summary>--max-cpu-loras: adapters kept loaded in host memory at once.</summary>
    public int MaxCpuLoras { get; init; } = 64;

    /// <summary>Byte budget of the host cache (sum of loaded adapters' A and B matrices).</summary>
    public long MaxCacheBytes { get; init; } = 1L << 30;

    /// <summary>--max-lora-rank: adapters with a larger rank are refused at load.</summary>
    public int MaxLoraRank { get; init; } = 64;
}
