namespace LoraServe.Engine.Scheduling;

/// <summary>The fairness policies by flag name (--scheduling-policy), side by side so one run can compare them.</summary>
public static class FairnessPolicies
{
    public const string Fcfs = "fcfs";
    public const string Vtc = "vtc";
    public const string WeightedVtc = "weighted-vtc";
    public const string VtcPredict = "vtc-predict";
    public const string Lcf = "lcf";
    public const string RateLimit = "rate-limit";

    public static IReadOnlyList<string> Names { get; } = [Fcfs, Vtc, WeightedVtc, VtcPredict, Lcf, RateLimit];

    public static IFairnessPolicy Create(string name, FairnessOptions? options = null)
    {
        options ??= new FairnessOptions();
        options.Validate();
        return name switch
        {
            Fcfs => new FcfsPolicy(),
            Vtc => new VtcPolicy(options with { TenantWeights = new Dictionary<string, double>() }),
            // The same counter with every charge divided by the tenant's weight (paper §4.3).
            WeightedVtc => new VtcPolicy(options, WeightedVtc),
            VtcPredict => new VtcPredictPolicy(options),
            Lcf => new LcfPolicy(options),
            RateLimit => new RateLimitPolicy(options),
            _ => throw new ArgumentException($"unknown scheduling policy '{name}'; expected one of: {string.Join(", ", Names)}"),
        };
    }
}
