using System.Text.Json.Serialization;

namespace LoraServe.Engine.Workload;

/// <summary>One tenant of a synthetic workload: its arrival rate and pattern, lengths, adapters and fairness weight.</summary>
public sealed record TenantSpec
{
    public required string Name { get; init; }

    /// <summary>Requests per second while on.</summary>
    public double Rate { get; init; } = 1;

    [JsonConverter(typeof(JsonStringEnumConverter<ArrivalKind>))]
    public ArrivalKind Arrival { get; init; } = ArrivalKind.Poisson;

    /// <summary>Coefficient of variation of gamma inter-arrival gaps.</summary>
    public double Cv { get; init; } = 1;

    /// <summary>On/off pattern: with period P &gt; 0, requests in [P, 2P), [3P, 4P) … are dropped (the artifact's on_off).</summary>
    public double OnOffPeriod { get; init; }

    /// <summary>First arrival not before this time (seconds).</summary>
    public double Start { get; init; }

    /// <summary>No arrivals from this time on; null = until the workload's duration.</summary>
    public double? End { get; init; }

    /// <summary>Weighted-VTC weight.</summary>
    public double Weight { get; init; } = 1;

    public LengthDistribution Prompt { get; init; } = LengthDistribution.Fixed(16);
    public LengthDistribution Output { get; init; } = LengthDistribution.Fixed(16);
    public AdapterPopularity Adapters { get; init; } = new();

    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Name)) throw new ArgumentException("a tenant needs a name");
        if (!(Rate > 0)) throw new ArgumentException($"tenant '{Name}': rate must be > 0, got {Rate}");
        if (!(Cv > 0)) throw new ArgumentException($"tenant '{Name}': cv must be > 0, got {Cv}");
        if (!(Weight > 0)) throw new ArgumentException($"tenant '{Name}': weight must be > 0, got {Weight}");
        if (OnOffPeriod < 0 || Start < 0) throw new ArgumentException($"tenant '{Name}': on/off period and start must be ≥ 0");
    }
}
