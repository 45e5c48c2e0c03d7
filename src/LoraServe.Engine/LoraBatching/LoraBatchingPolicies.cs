namespace LoraServe.Engine.LoraBatching;

/// <summary>The LoRA batching policies by flag name (--lora-policy), side by side so one bench run can compare them.</summary>
public static class LoraBatchingPolicies
{
    public const string Unmerged = UnmergedOnlyPolicy.PolicyName;
    public const string Merged = MergedOnlyPolicy.PolicyName;
    public const string Dlora = CreditLoraPolicy.PolicyName;

    public static IReadOnlyList<string> Names { get; } = [Unmerged, Merged, Dlora];

    /// <summary>Whether <paramref name="name"/> needs a cost model (only dlora does).</summary>
    public static bool NeedsCosts(string name) => name == Dlora;

    /// <param name="costs">called only for policies that need a cost model</param>
    public static ILoraBatchingPolicy Create(string name, Func<LoraCostModel> costs, CreditPolicyOptions? options = null) => name switch
    {
        Unmerged => new UnmergedOnlyPolicy(),
        Merged => new MergedOnlyPolicy(),
        Dlora => new CreditLoraPolicy(costs(), options),
        _ => throw new ArgumentException($"unknown LoRA policy '{name}'; expected one of: {string.Join(", ", Names)}"),
    };
}
