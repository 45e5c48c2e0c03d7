using LoraServe.Engine.LoraBatching;
using LoraServe.Engine.Scheduling;
using LoraServe.Engine.Tests.Scheduling;
using LoraServe.Lora.Adapters;
using LoraServe.Models.Llama;

namespace LoraServe.Engine.Tests.LoraBatching;

/// <summary>
/// The three LoRA policies on the real scheduler in simulated time, where a step costs exactly
/// what a fixed machine model says (no noise): base(t) = 12 ms + 4.5 ms per token, unmerged adds
/// 15% of the per-token part for adapter rows plus 1 ms per distinct adapter, a merge that computes
/// costs 0.3 s. The policy gets a cost model that knows those numbers. An overloaded stream
/// (8 requests/s of 32 + 32 tokens against ~180 tokens/s) over 8 adapters, from uniform to one hot
/// adapter: the dynamic policy must reach ≥ 0.95× the better static policy's throughput at every
/// skew (issue 6's acceptance, here free of the shared machine's noise; docs/experiments.md has the
/// real runs).
/// </summary>
public class LoraPolicySimulationTests
{
    private const int AdapterBytes = 1000;
    private static readonly LoraAdapter[] Adapters = [.. Enumerable.Range(0, 8).Select(i =>
        new LoraAdapter($"lora-{i}", 1, [new LoraModule(0, LinearKind.Q, new float[AdapterBytes / 8], new float[AdapterBytes / 8], 1, AdapterBytes / 8, AdapterBytes / 8, 1f)]))];

    private static double TrueStepSeconds(SchedulerStep s)
    {
        double t = 0.012 + 0.0045 * s.TokenCount;
        if (s.MergedAdapter is null)
        {
            int distinct = s.Scheduled.Select(c => c.Sequence.Adapter).Where(a => a is not null).Distinct().Count();
            int loraTokens = s.Scheduled.Where(c => c.Sequence.Adapter is not null).Sum(c => c.Count);
            t += 0.15 * 0.0045 * loraTokens + 0.001 * distinct;
        }
        return t;
    }

    private static LoraCostModel MachineModel() => new(
        [(1, 0.0165), (16, 0.084)], new LoraCostModel.LoraTerms(0.001, 0, 0.15 * 0.0045 / AdapterBytes), new LoraCostModel.SwitchTerms(0.3, 0, 0), 0.87);

    /// <summary>Tokens run per simulated second over <paramref name="duration"/> s, and the merged steps.</summary>
    private static (double TokensPerSecond, int MergedSteps) Simulate(string policy, Func<Random, int> pickAdapter, double duration = 40)
    {
        var rng = new Random(1);
        var lora = LoraBatchingPolicies.Create(policy, MachineModel);
        var sim = new SchedulerSimulation(FairnessPolicies.Fcfs, new SchedulerOptions { MaxNumSeqs = 16, MaxNumBatchedTokens = 256 }, 256, 16, 0.01, lora: lora);
        double now = 0, nextArrival = 0, tokens = 0;
        LoraAdapter? resident = null, mergedNow = null;
        while (now < duration)
        {
            for (; nextArrival <= now; nextArrival += -Math.Log(1 - rng.NextDouble()) / 8.0)
            {
                sim.Now = nextArrival;
                sim.Arrive("t", 32, 32, Adapters[pickAdapter(rng)]);
            }
            if (!sim.Scheduler.HasWork)
            {
                now = nextArrival;
                continue;
            }
            var step = sim.Step();
            double seconds = TrueStepSeconds(step);
            lora.OnStepCompleted(step.LoraCandidates, step.LoraPlan!, seconds);
            if (!ReferenceEquals(step.MergedAdapter, mergedNow))
            {
                mergedNow = step.MergedAdapter;
                if (mergedNow is not null && !ReferenceEquals(mergedNow, resident))
                {
                    seconds += 0.3; // a merge that computes; re-merging the resident adapter is free, as in AdapterMerger
                    resident = mergedNow;
                    lora.OnSwitchCompleted(AdapterProfile.Of(mergedNow), 0.3);
                }
            }
            now += seconds;
            tokens += step.TokenCount;
        }
        return (tokens / now, sim.MergedSteps);
    }

    private static Func<Random, int> Zipf(double alpha)
    {
        double[] w = [.. Enumerable.Range(1, 8).Select(i => Math.Pow(i, -alpha))];
        double sum = w.Sum();
        return rng =>
        {
            double u = rng.NextDouble() * sum;
            for (int i = 0; i < 7; i++) if ((u -= w[i]) <= 0) return i;
            return 7;
        };
    }

    private static Func<Random, int> Hot(double share) => rng => rng.NextDouble() < share ? 0 : 1 + rng.Next(7);

    public static TheoryData<string> Workloads => ["zipf 0", "zipf 2", "hot 0.95", "hot 1.0"];

    [Theory]
    [MemberData(nameof(Workloads))]
    public void Dynamic_policy_reaches_95_percent_of_the_better_static_policy(string workload)
    {
        var parts = workload.Split(' ');
        double x = double.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
        var pick = parts[0] == "zipf" ? Zipf(x) : Hot(x);
        var unmerged = Simulate(LoraBatchingPolicies.Unmerged, pick);
        var merged = Simulate(LoraBatchingPolicies.Merged, pick);
        var dlora = Simulate(LoraBatchingPolicies.Dlora, pick);
        double best = Math.Max(unmerged.TokensPerSecond, merged.TokensPerSecond);
        Assert.True(dlora.TokensPerSecond >= 0.95 * best,
            $"{workload}: dlora {dlora.TokensPerSecond:F1} tok/s < 0.95 × max(unmerged {unmerged.TokensPerSecond:F1}, merged {merged.TokensPerSecond:F1})");
        // Where the statics differ clearly, the dynamic policy is clearly above the worse one.
        double worst = Math.Min(unmerged.TokensPerSecond, merged.TokensPerSecond);
        if (best > 1.1 * worst) Assert.True(dlora.TokensPerSecond > 1.05 * worst);
        // With one adapter only, merging pays and the dynamic policy merges (almost) every step.
        if (workload == "hot 1.0") Assert.True(dlora.MergedSteps > 0 && dlora.TokensPerSecond > 1.05 * unmerged.TokensPerSecond);
    }
}
