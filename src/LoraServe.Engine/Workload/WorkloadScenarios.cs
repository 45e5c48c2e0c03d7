namespace LoraServe.Engine.Workload;

/// <summary>
/// The VTC paper's synthetic experiments (vtc.md §6), scaled to a small CPU model: rates are in
/// requests per second and lengths in tokens, chosen so each run takes a minute or two
/// (docs/experiments.md gives the commands). Uniform (evenly spaced) arrivals as in the artifact.
/// </summary>
public static class WorkloadScenarios
{
    public const string Overload = "overload";
    public const string OnOff = "on-off";
    public const string Weighted = "weighted";
    public const string LowVolume = "low-volume";

    public static IReadOnlyList<string> Names { get; } = [Overload, OnOff, Weighted, LowVolume];

    /// <param name="rate">Requests per second of the base tenant; the others are multiples of it as in the paper.</param>
    public static WorkloadSpec Create(string name, double duration, double rate, int prompt, int output, int seed = 42)
    {
        var p = LengthDistribution.Fixed(prompt);
        var o = LengthDistribution.Fixed(output);
        TenantSpec T(string n, double r, double weight = 1, double onOff = 0) =>
            new() { Name = n, Rate = r, Arrival = ArrivalKind.Uniform, Prompt = p, Output = o, Weight = weight, OnOffPeriod = onOff };
        IReadOnlyList<TenantSpec> tenants = name switch
        {
            // Fig 3: two backlogged tenants at 1:2 request rates.
            Overload => [T("A", rate), T("B", 2 * rate)],
            // Fig 10 (dist_shift) in one run: B is backlogged throughout; A is off, switches on for the middle
            // third with the same overload, then off again. LCF lets A cash in the credit it "saved" while off;
            // VTC's lift starts A level with B. Both overloaded, so the contrast shows at any machine speed.
            OnOff => [T("A", 4 * rate) with { Start = duration / 3, End = 2 * duration / 3 }, T("B", 4 * rate)],
            // App B.1 (committed WVTC config 0.4/0.8/1.2/1.6 req/s): weights 1:2:3:4, rates in the same ratio, all backlogged.
            Weighted => [T("w1", rate, 1), T("w2", 2 * rate, 2), T("w3", 3 * rate, 3), T("w4", 4 * rate, 4)],
            // Fig 9 / Table 2's low-volume clients: one tenant far under its share next to a heavy one.
            LowVolume => [T("light", rate / 4), T("heavy", 4 * rate)],
            _ => throw new ArgumentException($"unknown scenario '{name}'; expected one of: {string.Join(", ", Names)}"),
        };
        return new WorkloadSpec { Duration = duration, Seed = seed, Tenants = tenants };
    }
}
