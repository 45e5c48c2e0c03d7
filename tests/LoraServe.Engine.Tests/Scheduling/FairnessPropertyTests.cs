using FsCheck.Xunit;
using LoraServe.Engine.LoraBatching;
using LoraServe.Engine.Requests;
using LoraServe.Engine.Scheduling;
using LoraServe.Engine.Tests.Support;
using LoraServe.Lora.Adapters;

namespace LoraServe.Engine.Tests.Scheduling;

/// <summary>
/// Properties over random arrival scripts (FsCheck draws the script's parameters and seed):
/// VTC's service bound for two backlogged tenants (paper Thm 4.4, DESIGN §5.1), work
/// conservation, and that every request finishes and every block returns under every policy.
/// </summary>
public sealed class FairnessPropertyTests
{
    /// <summary>
    /// The paper's setting: no preemption (the pool holds max-num-seqs full requests, M = pool
    /// tokens) and prefill not chunked (the budget holds every admitted prompt), so a request's
    /// input is processed in its admission step. Over every stretch of steps in which both tenants
    /// keep requests waiting throughout, the difference in service they receive stays within
    /// 2·max(w_p·L_input, w_q·M).
    /// </summary>
    [Property(MaxTest = 60)]
    public bool Two_backlogged_tenants_service_gap_stays_within_twice_U(int seed, byte maxSeqsRaw, byte promptRaw, byte outputRaw, bool unevenRates)
    {
        var run = TwoTenants(seed, maxSeqsRaw, promptRaw, outputRaw, unevenRates, lora: null);
        if (run.Worst > 2 * run.U) throw new Xunit.Sdk.XunitException($"service gap {run.Worst} over a backlogged stretch exceeds 2U = {2 * run.U}");
        return run.EmptySteps == 0;
    }

    /// <summary>
    /// The same bound with the dLoRA policy deciding how the running set executes (DESIGN §5.2
    /// composition): tenant a sends everything to one hot adapter, tenant b spreads over three, and
    /// the cost model makes merging pay, so the policy merges a's adapter and holds b's requests
    /// back for whole steps. VTC still decides admission; the gap must stay within 2U.
    /// </summary>
    [Property(MaxTest = 60)]
    public bool Two_backlogged_tenants_service_gap_stays_within_twice_U_with_dlora(int seed, byte maxSeqsRaw, byte promptRaw, byte outputRaw, bool unevenRates)
    {
        var run = TwoTenants(seed, maxSeqsRaw, promptRaw, outputRaw, unevenRates, DloraMergingPays());
        if (run.Worst > 2 * run.U) throw new Xunit.Sdk.XunitException($"service gap {run.Worst} over a backlogged stretch exceeds 2U = {2 * run.U} ({run.MergedSteps} merged steps)");
        return run.EmptySteps == 0;
    }

    [Fact]
    public void The_dlora_fairness_property_exercises_merged_steps()
    {
        // Not vacuous: over a spread of scripts the policy does run merged (and still keeps the bound).
        int merged = 0;
        for (int seed = 0; seed < 20; seed++)
        {
            var run = TwoTenants(seed, (byte)(2 + seed % 4), 10, 12, seed % 2 == 0, DloraMergingPays());
            Assert.True(run.Worst <= 2 * run.U, $"seed {seed}: gap {run.Worst} > 2U = {2 * run.U}");
            merged += run.MergedSteps;
        }
        Assert.True(merged > 100, $"only {merged} merged steps over 20 scripts");
    }

    /// <summary>Merged steps 10 ms, +20 ms per distinct adapter unmerged, switches 1 ms.</summary>
    private static CreditLoraPolicy DloraMergingPays() => new(new LoraCostModel(0.010, 0.090, 4, 0.001));

    private static readonly LoraAdapter Hot = TestModels.RandomAdapter("hot", 2, 1);
    private static readonly LoraAdapter[] Spread = [TestModels.RandomAdapter("c0", 2, 2), TestModels.RandomAdapter("c1", 4, 3), TestModels.RandomAdapter("c2", 2, 4)];

    private readonly record struct TwoTenantRun(double Worst, double U, int EmptySteps, int MergedSteps);

    /// <summary>The two-tenant script of the properties above; with a LoRA policy, tenant a uses <see cref="Hot"/> and b <see cref="Spread"/>.</summary>
    private static TwoTenantRun TwoTenants(int seed, byte maxSeqsRaw, byte promptRaw, byte outputRaw, bool unevenRates, ILoraBatchingPolicy? lora)
    {
        var rng = new Random(seed);
        int maxSeqs = 1 + maxSeqsRaw % 6, maxPrompt = 1 + promptRaw % 24, maxOutput = 1 + outputRaw % 24, blockSize = 4;
        int blocksPerRequest = (maxPrompt + maxOutput + blockSize - 1) / blockSize;
        int blocks = maxSeqs * blocksPerRequest;
        var sim = new SchedulerSimulation(FairnessPolicies.Vtc,
            new SchedulerOptions { MaxNumSeqs = maxSeqs, MaxNumBatchedTokens = maxSeqs * (maxPrompt + maxOutput) }, blocks, blockSize, lora: lora);
        double u = Math.Max(sim.Fairness.InputWeight * maxPrompt, sim.Fairness.OutputWeight * blocks * blockSize);
        LoraAdapter? AdapterA() => lora is null ? null : Hot;
        LoraAdapter? AdapterB() => lora is null ? null : Spread[rng.Next(Spread.Length)];
        // Tenant a arrives at 1 or 2 per step on average, b at 1: both stay backlogged most of the time.
        double rateA = unevenRates ? 0.9 : 0.5, rateB = 0.45;
        for (int i = 0; i < 3 + rng.Next(10); i++) sim.Arrive("a", 1 + rng.Next(maxPrompt), 1 + rng.Next(maxOutput), AdapterA());
        for (int i = 0; i < 3 + rng.Next(10); i++) sim.Arrive("b", 1 + rng.Next(maxPrompt), 1 + rng.Next(maxOutput), AdapterB());

        double worst = 0, runMin = 0, runMax = 0;
        bool inRun = false;
        for (int t = 0; t < 600; t++)
        {
            if (rng.NextDouble() < rateA) sim.Arrive("a", 1 + rng.Next(maxPrompt), 1 + rng.Next(maxOutput), AdapterA());
            if (rng.NextDouble() < rateB) sim.Arrive("b", 1 + rng.Next(maxPrompt), 1 + rng.Next(maxOutput), AdapterB());
            bool backloggedBefore = sim.Policy.WaitingFor("a") > 0 && sim.Policy.WaitingFor("b") > 0;
            double before = sim.Service["a"] - sim.Service["b"];
            sim.Step();
            bool backloggedAfter = sim.Policy.WaitingFor("a") > 0 && sim.Policy.WaitingFor("b") > 0;
            double after = sim.Service["a"] - sim.Service["b"];
            if (backloggedBefore && backloggedAfter)
            {
                if (!inRun) { runMin = runMax = before; inRun = true; }
                runMin = Math.Min(runMin, after);
                runMax = Math.Max(runMax, after);
                worst = Math.Max(worst, runMax - runMin);
            }
            else inRun = false;
        }
        return new TwoTenantRun(worst, u, sim.EmptyStepsWithWork, sim.MergedSteps);
    }

    /// <summary>
    /// Under every policy, with a pool small enough to force preemptions, a per-step token budget
    /// that chunks prefills and a watermark: no step is empty while work waits, every request
    /// finishes with its full output, and all blocks are free at the end.
    /// </summary>
    [Property(MaxTest = 25)]
    public void Every_request_finishes_and_every_block_returns_under_every_policy(int seed, byte tenantsRaw, byte budgetRaw)
    {
        foreach (var policy in FairnessPolicies.Names)
        {
            var rng = new Random(seed);
            int tenants = 1 + tenantsRaw % 4, blockSize = 4;
            var fairness = new FairnessOptions { RequestsPerMinute = 1000, TenantWeights = new Dictionary<string, double> { ["t0"] = 3, ["t1"] = 1.5 } };
            var sim = new SchedulerSimulation(policy,
                new SchedulerOptions { MaxNumSeqs = 1 + rng.Next(6), MaxNumBatchedTokens = 8 + budgetRaw % 40 }, 24, blockSize, 0.05, fairness);
            var all = new List<Sequence>();
            for (int t = 0; t < 150; t++)
            {
                sim.Now = t * 0.01;
                if (rng.NextDouble() < 0.3)
                {
                    // Prompt + output ≤ 88 tokens = 22 blocks: fits the pool minus its 1-block watermark alone.
                    all.Add(sim.Arrive("t" + rng.Next(tenants), 1 + rng.Next(40), 1 + rng.Next(48)));
                }
                sim.Step();
            }
            sim.RunToCompletion(100_000);
            Assert.False(sim.Scheduler.HasWork, $"{policy}: work left after the run");
            Assert.Equal(0, sim.EmptyStepsWithWork);
            foreach (var s in all)
            {
                Assert.Equal(SequenceStatus.Finished, s.Status);
                Assert.Equal(s.MaxOutputTokens, s.OutputCount);
            }
            Assert.Equal(sim.Blocks.TotalBlocks, sim.Blocks.FreeBlocks);
        }
    }
}
