using LoraServe.Engine.Workload;

namespace LoraServe.Engine.Tests.Workload;

/// <summary>Workload generator statistics against their definitions (means, CV, on/off, popularity).</summary>
public sealed class WorkloadGeneratorTests
{
    private static WorkloadSpec One(TenantSpec t, double duration = 2000) => new() { Duration = duration, Seed = 1, Tenants = [t] };

    [Theory]
    [InlineData(ArrivalKind.Poisson, 1.0)]
    [InlineData(ArrivalKind.Gamma, 3.0)]
    [InlineData(ArrivalKind.Gamma, 0.5)]
    public void Arrivals_have_the_requested_rate_and_coefficient_of_variation(ArrivalKind kind, double cv)
    {
        var trace = WorkloadGenerator.Generate(One(new TenantSpec { Name = "a", Rate = 5, Arrival = kind, Cv = cv }));
        var gaps = trace.Zip(trace.Skip(1), (x, y) => y.Time - x.Time).ToArray();
        double mean = gaps.Average(), sd = Math.Sqrt(gaps.Sum(g => (g - mean) * (g - mean)) / gaps.Length);
        Assert.InRange(mean, 0.2 * 0.95, 0.2 * 1.05);
        Assert.InRange(sd / mean, cv * 0.9, cv * 1.1);
    }

    [Fact]
    public void On_off_tenants_send_nothing_in_odd_periods()
    {
        var trace = WorkloadGenerator.Generate(One(new TenantSpec { Name = "a", Rate = 10, Arrival = ArrivalKind.Uniform, OnOffPeriod = 5 }, 40));
        Assert.All(trace, r => Assert.Equal(0, (int)Math.Floor(r.Time / 5) % 2));
        Assert.InRange(trace.Count, 190, 210);
    }

    [Fact]
    public void Zipf_popularity_follows_inverse_rank_powers()
    {
        var trace = WorkloadGenerator.Generate(One(new TenantSpec
        {
            Name = "a", Rate = 50, Adapters = new AdapterPopularity { Kind = PopularityKind.Zipf, Count = 4, Alpha = 1.0 },
        }, 400));
        double h = 1 + 1 / 2.0 + 1 / 3.0 + 1 / 4.0;
        for (int i = 0; i < 4; i++)
        {
            double share = trace.Count(r => r.Adapter == AdapterPopularity.AdapterName(i)) / (double)trace.Count;
            Assert.InRange(share, 1 / (i + 1.0) / h - 0.02, 1 / (i + 1.0) / h + 0.02);
        }
    }

    [Fact]
    public void Uniform_lengths_stay_in_range_and_jsonl_lengths_replay_in_order()
    {
        string path = Path.Combine(Path.GetTempPath(), $"lengths-{Guid.NewGuid():N}.jsonl");
        File.WriteAllLines(path, ["{\"prompt_len\": 5, \"output_len\": 9}", "{\"prompt_len\": 7, \"output_len\": 3}"]);
        try
        {
            var trace = WorkloadGenerator.Generate(One(new TenantSpec
            {
                Name = "a", Rate = 2, Arrival = ArrivalKind.Uniform,
                Prompt = new LengthDistribution { Kind = LengthKind.Jsonl, Path = path, Field = "prompt_len" },
                Output = LengthDistribution.Uniform(3, 6),
            }, 10));
            Assert.Equal([5, 7, 5, 7], trace.Take(4).Select(r => r.PromptLength));
            Assert.All(trace, r => Assert.InRange(r.OutputLength, 3, 6));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Scenarios_keep_the_papers_rate_ratios_and_weights()
    {
        var overload = WorkloadScenarios.Create(WorkloadScenarios.Overload, 60, 1.5, 32, 32);
        Assert.Equal(2 * overload.Tenants[0].Rate, overload.Tenants[1].Rate);
        var weighted = WorkloadScenarios.Create(WorkloadScenarios.Weighted, 60, 1, 32, 32);
        Assert.Equal([1.0, 2, 3, 4], weighted.Tenants.Select(t => t.Weight));
    }
}
