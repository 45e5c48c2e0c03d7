using LoraServe.Engine.Requests;
using LoraServe.Engine.Scheduling;
using LoraServe.Engine.Tests.Support;

namespace LoraServe.Engine.Tests.Scheduling;

public sealed class SchedulerTests
{
    [Fact]
    public void Long_prompts_are_chunked_to_the_token_budget_and_decodes_go_first()
    {
        var sim = new SchedulerSimulation(FairnessPolicies.Fcfs, new SchedulerOptions { MaxNumSeqs = 4, MaxNumBatchedTokens = 16 }, 100, 4);
        var shortOne = sim.Arrive("a", 3, 5);
        var longOne = sim.Arrive("a", 40, 2);
        var first = sim.Step();
        Assert.Equal([(shortOne, 0, 3, true), (longOne, 0, 13, false)], first.Scheduled.Select(c => (c.Sequence, c.Start, c.Count, c.Samples)));
        var second = sim.Step();
        Assert.Equal([(shortOne, 3, 1, true), (longOne, 13, 15, false)], second.Scheduled.Select(c => (c.Sequence, c.Start, c.Count, c.Samples)));
        Assert.All(Enumerable.Range(0, 10).Select(_ => sim.Step()), s => Assert.True(s.TokenCount <= 16));
    }

    [Fact]
    public void Running_batch_never_exceeds_max_num_seqs()
    {
        var sim = new SchedulerSimulation(FairnessPolicies.Vtc, new SchedulerOptions { MaxNumSeqs = 3, MaxNumBatchedTokens = 1000 }, 100, 4);
        for (int i = 0; i < 10; i++) sim.Arrive("t" + i % 2, 4, 6);
        for (int i = 0; i < 30 && sim.Scheduler.HasWork; i++)
        {
            sim.Step();
            Assert.True(sim.Scheduler.Running.Count <= 3);
        }
    }

    [Fact]
    public void Max_loras_bounds_the_distinct_adapters_running_at_once()
    {
        var sim = new SchedulerSimulation(FairnessPolicies.Fcfs, new SchedulerOptions { MaxNumSeqs = 8, MaxNumBatchedTokens = 1000, MaxLoras = 2 }, 100, 4);
        var adapters = new[] { TestModels.RandomAdapter("x", 2, 1), TestModels.RandomAdapter("y", 2, 2), TestModels.RandomAdapter("z", 2, 3) };
        for (int i = 0; i < 6; i++)
        {
            var request = new Request { Tenant = "t", PromptTokens = [1, 2, 3], Options = new RequestOptions { MaxTokens = 3 } };
            sim.Scheduler.Add(new Sequence(100 + i, request, 3, 0) { Adapter = adapters[i % 3] }, 0);
        }
        var step = sim.Scheduler.Schedule();
        Assert.Equal(2, step.Scheduled.Count); // x, y admitted; z does not fit and FCFS stops there
        Assert.Equal(2, sim.Scheduler.RunningAdapterCount);
    }
}
