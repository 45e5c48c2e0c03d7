using FsCheck.Xunit;
using LoraServe.Engine.Requests;
using LoraServe.Engine.Scheduling;

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
        var rng = new Random(seed);
        int maxSeqs = 1 + maxSeqsRaw % 6, maxPrompt = 1 + promptRaw % 24, maxOutput = 1 + outputRaw % 24, blockSize = 4;
        int blocksPerRequest = (maxPrompt + maxOutput + blockSize - 1) / blockSize;
        int blocks = maxSeqs * blocksPerRequest;
        var sim = new SchedulerSimulation(FairnessPolicies.Vtc,
            new SchedulerOptions { MaxNumSeqs = maxSeqs, MaxNumBatchedTokens = maxSeqs * (maxPrompt + maxOutput) }, blocks, blockSize);
        double u = Math.Max(sim.Fairness.InputWeight * maxPrompt, sim.Fairness.OutputWeight * blocks * blockSize);
        // Tenant a arrives at 1 or 2 per step on average, b at 1: both stay backlogged most of the time.
        double rateA = unevenRates ? 0.9 : 0.5, rateB = 0.45;
        for (int i = 0; i < 3 + rng.Next(10); i++) sim.Arrive("a", 1 + rng.Next(maxPrompt), 1 + rng.Next(maxOutput));
        for (int i = 0; i < 3 + rng.Next(10); i++) sim.Arrive("b", 1 + rng.Next(maxPrompt), 1 + rng.Next(maxOutput));

        double worst = 0, runMin = 0, runMax = 0;
        bool inRun = false;
        for (int t = 0; t < 600; t++)
        {
            if (rng.NextDouble() < rateA) sim.Arrive("a", 1 + rng.Next(maxPrompt), 1 + rng.Next(maxOutput));
            if (rng.NextDouble() < rateB) sim.Arrive("b", 1 + rng.Next(maxPrompt), 1 + rng.Next(maxOutput));
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
        if (worst > 2 * u) throw new Xunit.Sdk.XunitException($"service gap {worst} over a backlogged stretch exceeds 2U = {2 * u}");
        return sim.EmptyStepsWithWork == 0;
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
