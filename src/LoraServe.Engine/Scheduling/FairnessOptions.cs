namespace LoraServe.Engine.Scheduling;

/// <summary>Parameters of the fairness policies (DESIGN §5.1).</summary>
public sealed record FairnessOptions
{
    /// <summary>w_p: cost of one input token in the service measure (VTC paper §3.1; OpenAI pricing ratio).</summary>
    public double InputWeight { get; init; } = 1.0;

    /// <summary>w_q: cost of one output token.</summary>
    public double OutputWeight { get; init; } = 2.0;

    /// <summary>Per-tenant weights for weighted VTC (§4.3); tenants not listed weigh 1.</summary>
    public IReadOnlyDictionary<string, double> TenantWeights { get; init; } = new Dictionary<string, double>();

    /// <summary>rate-limit: requests a tenant may have accepted in any 60 s window (the RPM baseline).</summary>
    public int RequestsPerMinute { get; init; } = 30;

    public void Validate()
    {
        if (!(InputWeight >= 0) || !(OutputWeight >= 0) || InputWeight + OutputWeight <= 0)
            throw new ArgumentException($"token weights must be ≥ 0 and not both 0 (w_p {InputWeight}, w_q {OutputWeight})");
        foreach (var (tenant, w) in TenantWeights)
            if (!(w > 0) || double.IsInfinity(w)) throw new ArgumentException($"tenant '{tenant}' has weight {w}; weights must be positive");
        if (RequestsPerMinute < 1) throw new ArgumentException($"requests per minute must be ≥ 1, got {RequestsPerMinute}");
    }

    public double WeightOf(string tenant) => TenantWeights.TryGetValue(tenant, out double w) ? w : 1.0;
}
