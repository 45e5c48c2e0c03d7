using System.Text.Json.Serialization;

namespace LoraServe.Engine.Workload;

/// <summary>
/// Which adapter a tenant's request uses: none (base model), uniform over <see cref="Count"/>
/// adapters, Zipf(α) over them (adapter i with probability ∝ 1/iᵅ, i = 1…Count), or an explicit
/// list of names with weights.
/// </summary>
public sealed record AdapterPopularity
{
    [JsonConverter(typeof(JsonStringEnumConverter<PopularityKind>))]
    public PopularityKind Kind { get; init; } = PopularityKind.None;

    public int Count { get; init; }

    public double Alpha { get; init; } = 1.0;

    /// <summary>Explicit: adapter names (bench-made adapters are named lora-0, lora-1, …).</summary>
    public IReadOnlyList<string> Names { get; init; } = [];

    public IReadOnlyList<double> Weights { get; init; } = [];

    /// <summary>Adapter names this popularity can pick.</summary>
    public IReadOnlyList<string> AdapterNames() => Kind switch
    {
        PopularityKind.None => [],
        PopularityKind.Explicit => Names,
        _ => [.. Enumerable.Range(0, Count).Select(AdapterName)],
    };

    public static string AdapterName(int i) => $"lora-{i}";

    public Func<Random, string?> CreateSampler()
    {
        double[] weights;
        string[] names;
        switch (Kind)
        {
            case PopularityKind.None:
                return _ => null;
            case PopularityKind.Uniform:
            case PopularityKind.Zipf:
                if (Count < 1) throw new ArgumentException($"adapter popularity {Kind} needs count ≥ 1");
                if (Kind == PopularityKind.Zipf && !(Alpha >= 0)) throw new ArgumentException($"Zipf alpha must be ≥ 0, got {Alpha}");
                names = [.. AdapterNames()];
                weights = [.. Enumerable.Range(1, Count).Select(i => Kind == PopularityKind.Uniform ? 1.0 : Math.Pow(i, -Alpha))];
                break;
            case PopularityKind.Explicit:
                if (Names.Count == 0 || Names.Count != Weights.Count || Weights.Any(w => !(w >= 0)) || Weights.Sum() <= 0)
                    throw new ArgumentException("explicit adapter popularity needs as many non-negative weights as names, not all zero");
                names = [.. Names];
                weights = [.. Weights];
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(Kind), Kind, null);
        }
        var cumulative = new double[weights.Length];
        double sum = 0;
        for (int i = 0; i < weights.Length; i++) cumulative[i] = sum += weights[i];
        return rng =>
        {
            double u = rng.NextDouble() * sum;
            int i = Array.BinarySearch(cumulative, u);
            if (i < 0) i = ~i;
            return names[Math.Min(i, names.Length - 1)];
        };
    }
}

public enum PopularityKind
{
    None,
    Uniform,
    Zipf,
    Explicit,
}
