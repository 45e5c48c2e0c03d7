using LoraServe.Engine.Workload;

namespace LoraServe.Engine.Tests.Workload;

/// <summary>The adapter-popularity workloads of the LoRA batching experiments, against their definitions.</summary>
public sealed class LoraScenariosTests
{
    private static Dictionary<string, double> Shares(IEnumerable<TraceRequest> trace)
    {
        var list = trace.ToList();
        return list.GroupBy(r => r.Adapter!).ToDictionary(g => g.Key, g => (double)g.Count() / list.Count);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(2.0)]
    public void Zipf_shares_are_inverse_rank_powers(double alpha)
    {
        var trace = WorkloadGenerator.Generate(LoraScenarios.Create(LoraScenarios.Zipf, 2000, 20, 32, 32, 4, alpha));
        double norm = Enumerable.Range(1, 4).Sum(i => Math.Pow(i, -alpha));
        var shares = Shares(trace);
        for (int i = 0; i < 4; i++) Assert.InRange(shares[$"lora-{i}"], Math.Pow(i + 1, -alpha) / norm - 0.01, Math.Pow(i + 1, -alpha) / norm + 0.01);
        Assert.InRange(trace.Count, 20 * 2000 * 0.97, 20 * 2000 * 1.03); // Poisson at the rate
        Assert.All(trace, r => Assert.Equal((32, 32), (r.PromptLength, r.OutputLength)));
    }

    [Fact]
    public void Hot_adapter_gets_95_percent_and_the_others_share_the_rest_evenly()
    {
        var shares = Shares(WorkloadGenerator.Generate(LoraScenarios.Create(LoraScenarios.HotAdapter, 2000, 20, 8, 8, 6, 0)));
        Assert.InRange(shares["lora-0"], 0.94, 0.96);
        for (int i = 1; i < 6; i++) Assert.InRange(shares[$"lora-{i}"], 0.01 - 0.003, 0.01 + 0.003);
    }

    [Fact]
    public void Shifting_hot_moves_the_hot_adapter_each_third_of_the_run()
    {
        var trace = WorkloadGenerator.Generate(LoraScenarios.Create(LoraScenarios.ShiftingHot, 3000, 20, 8, 8, 5, 0));
        for (int k = 0; k < 3; k++)
        {
            var phase = Shares(trace.Where(r => r.Time >= k * 1000 && r.Time < (k + 1) * 1000));
            Assert.InRange(phase[$"lora-{k}"], 0.89, 0.91);
        }
    }

    [Fact]
    public void Bad_parameters_are_refused_by_name()
    {
        Assert.Contains("≥ 2 adapters", Assert.Throws<ArgumentException>(() => LoraScenarios.Create(LoraScenarios.Zipf, 10, 1, 8, 8, 1, 1)).Message);
        Assert.Contains("≥ 3 adapters", Assert.Throws<ArgumentException>(() => LoraScenarios.Create(LoraScenarios.ShiftingHot, 10, 1, 8, 8, 2, 1)).Message);
        Assert.Contains("unknown LoRA scenario 'x'", Assert.Throws<ArgumentException>(() => LoraScenarios.Create("x", 10, 1, 8, 8, 4, 1)).Message);
    }
}
