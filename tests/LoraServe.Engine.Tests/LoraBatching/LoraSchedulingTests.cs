using LoraServe.Engine.LoraBatching;
using LoraServe.Engine.Requests;
using LoraServe.Engine.Scheduling;
using LoraServe.Engine.Tests.Scheduling;
using LoraServe.Engine.Tests.Support;
using LoraServe.Lora.Adapters;

namespace LoraServe.Engine.Tests.LoraBatching;

/// <summary>The scheduler with a LoRA policy: what a step may carry, and that nothing is lost.</summary>
public class LoraSchedulingTests
{
    private static readonly LoraAdapter[] Adapters = [TestModels.RandomAdapter("hot", 2, 1), TestModels.RandomAdapter("a", 2, 2), TestModels.RandomAdapter("b", 4, 3)];

    private static SchedulerSimulation Simulate(ILoraBatchingPolicy lora, int seed, out List<Sequence> all)
    {
        var rng = new Random(seed);
        var sim = new SchedulerSimulation(FairnessPolicies.Vtc, new SchedulerOptions { MaxNumSeqs = 6, MaxNumBatchedTokens = 24 }, 48, 4, 0.02, lora: lora);
        all = [];
        for (int t = 0; t < 200; t++)
        {
            if (rng.NextDouble() < 0.4)
            {
                // 60% hot, the rest a, b or the base model.
                double u = rng.NextDouble();
                LoraAdapter? adapter = u < 0.6 ? Adapters[0] : u < 0.75 ? Adapters[1] : u < 0.9 ? Adapters[2] : null;
                all.Add(sim.Arrive("t" + rng.Next(2), 1 + rng.Next(30), 1 + rng.Next(20), adapter));
            }
            CheckStep(sim.Step(), sim);
        }
        while (sim.Scheduler.HasWork) CheckStep(sim.Step(), sim);
        return sim;
    }

    // A merged step carries only the merged adapter's requests, never a base row; the step is one of F's subsets.
    private static void CheckStep(SchedulerStep step, SchedulerSimulation sim)
    {
        if (step.IsEmpty) return;
        // Each candidate carries its adapter's waiting work: prompt + max output of its requests not yet admitted
        // (counted at the time of planning: after this step's admissions).
        foreach (var c in step.LoraCandidates.Where(c => c.Adapter is not null))
        {
            long expected = sim.All.Where(s => s.Status == SequenceStatus.Waiting && s.Adapter?.Name == c.Adapter).Sum(s => (long)(s.PromptLength + s.MaxOutputTokens));
            Assert.Equal(expected, c.AdapterWaitingWork);
        }
        Assert.NotNull(step.LoraPlan);
        Assert.True(step.LoraCandidates.Count >= step.Scheduled.Count);
        Assert.Equal(step.Scheduled.Sum(c => c.Count), step.TokenCount);
        if (step.MergedAdapter is { } merged)
            Assert.All(step.Scheduled, c => Assert.Same(merged, c.Sequence.Adapter));
    }

    [Theory]
    [InlineData(LoraBatchingPolicies.Unmerged)]
    [InlineData(LoraBatchingPolicies.Merged)]
    [InlineData(LoraBatchingPolicies.Dlora)]
    public void Every_request_finishes_with_its_output_and_every_block_returns(string name)
    {
        var lora = LoraBatchingPolicies.Create(name, () => new LoraCostModel(0.010, 0.050, 4, 0.002));
        var sim = Simulate(lora, 11, out var all);
        Assert.Equal(0, sim.EmptyStepsWithWork);
        Assert.All(all, s => Assert.Equal(s.MaxOutputTokens, s.OutputCount));
        Assert.Equal(sim.Blocks.TotalBlocks, sim.Blocks.FreeBlocks);
        if (name == LoraBatchingPolicies.Unmerged) Assert.Equal(0, sim.MergedSteps);
        else Assert.True(sim.MergedSteps > 0, $"{name} never ran merged");
    }

    [Fact]
    public void Merged_only_runs_one_adapter_per_step()
    {
        var lora = new MergedOnlyPolicy();
        var rng = new Random(3);
        var sim = new SchedulerSimulation(FairnessPolicies.Fcfs, new SchedulerOptions { MaxNumSeqs = 8, MaxNumBatchedTokens = 64 }, 64, 4, lora: lora);
        for (int i = 0; i < 12; i++) sim.Arrive("t", 4, 6, i % 3 == 2 ? null : Adapters[i % 2]);
        while (sim.Scheduler.HasWork)
        {
            var step = sim.Step();
            var distinct = step.Scheduled.Select(c => c.Sequence.Adapter).Distinct().ToList();
            Assert.Single(distinct);
            Assert.Same(distinct[0], step.MergedAdapter);
        }
    }

    [Fact]
    public void Dlora_credit_stays_conserved_over_a_whole_run()
    {
        var lora = new CreditLoraPolicy(new LoraCostModel(0.010, 0.050, 4, 0.002));
        Simulate(lora, 5, out _);
        Assert.Equal(0, lora.Credits.Values.Sum(), 6);
        Assert.Contains(lora.Credits.Values, c => c != 0);
    }
}
