namespace LoraServe.Engine.Workload;

/// <summary>
/// Adapter-popularity workloads for the LoRA batching experiments (DESIGN §5.2, issue 6): one
/// client population at <c>rate</c> requests per second (Poisson) over <c>adapters</c> random
/// adapters lora-0 … lora-(n−1). Run them with `bench --scenario NAME --lora-policies
/// unmerged,merged,dlora` (docs/experiments.md).
/// </summary>
public static class LoraScenarios
{
    /// <summary>Adapter i with probability ∝ 1/iᵅ (α = 0 is uniform).</summary>
    public const string Zipf = "zipf";

    /// <summary>95% of requests on lora-0, the rest spread evenly over the others.</summary>
    public const string HotAdapter = "hot-adapter";

    /// <summary>Three equal phases; in phase k, 90% of requests go to lora-k, the rest evenly to the others.</summary>
    public const string ShiftingHot = "shifting-hot";

    public static IReadOnlyList<string> Names { get; } = [Zipf, HotAdapter, ShiftingHot];

    public static WorkloadSpec Create(string name, double duration, double rate, int prompt, int output, int adapters, double alpha, int seed = 42)
    {
        if (adapters < 2) throw new ArgumentException($"LoRA scenarios need ≥ 2 adapters, got {adapters}");
        if (name == ShiftingHot && adapters < 3) throw new ArgumentException("the shifting-hot scenario needs ≥ 3 adapters");
        var names = Enumerable.Range(0, adapters).Select(AdapterPopularity.AdapterName).ToArray();
        TenantSpec Clients(string tenant, AdapterPopularity popularity) => new()
        {
            Name = tenant, Rate = rate, Arrival = ArrivalKind.Poisson,
            Prompt = LengthDistribution.Fixed(prompt), Output = LengthDistribution.Fixed(output), Adapters = popularity,
        };
        AdapterPopularity Hot(int hot, double share) => new()
        {
            Kind = PopularityKind.Explicit, Names = names,
            Weights = [.. Enumerable.Range(0, adapters).Select(i => i == hot ? share : (1 - share) / (adapters - 1))],
        };
        IReadOnlyList<TenantSpec> tenants = name switch
        {
            Zipf => [Clients("clients", new AdapterPopularity { Kind = PopularityKind.Zipf, Count = adapters, Alpha = alpha })],
            HotAdapter => [Clients("clients", Hot(0, 0.95))],
            ShiftingHot => [.. Enumerable.Range(0, 3).Select(k => Clients($"phase-{k + 1}", Hot(k, 0.9)) with { Start = k * duration / 3, End = (k + 1) * duration / 3 })],
            _ => throw new ArgumentException($"unknown LoRA scenario '{name}'; expected one of: {string.Join(", ", Names)}"),
        };
        return new WorkloadSpec { Duration = duration, Seed = seed, Tenants = tenants };
    }
}
