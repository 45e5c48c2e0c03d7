using System.Text.Json;
using LoraServe.Engine.Workload;

namespace LoraServe.Engine.Tests.Workload;

public sealed class LoraPolicyReportTests
{
    private static BenchSummary Summary(string label, string lora, double tps, double rareP99) => new()
    {
        Policy = label, LoraPolicy = lora, ThroughputTokensPerSecond = tps, Steps = 100, MergedSteps = lora == "unmerged" ? 0 : 40, LoraMerges = 2,
        Ttft = Stats(0.1), Tpot = Stats(0.05), Latency = Stats(1), Tenants = [],
        Adapters = [new AdapterSummary { Adapter = "hot", Requests = 90, Ttft = Stats(0.1), Tpot = Stats(0.04) }, new AdapterSummary { Adapter = "cold", Requests = 3, Ttft = Stats(0.1), Tpot = Stats(rareP99) }],
    };

    private static Percentiles Stats(double v) => new(10, v, v, v, v);

    [Fact]
    public void Repeated_runs_are_averaged_and_dlora_is_compared_with_the_better_static_policy()
    {
        string dir = Path.Combine(Path.GetTempPath(), "lora-report-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            BenchSummary[] runs =
            [
                Summary("unmerged-1", "unmerged", 100, 0.2), Summary("merged-1", "merged", 50, 0.1), Summary("dlora-1", "dlora", 104, 0.3),
                Summary("dlora-2", "dlora", 98, 0.5), Summary("merged-2", "merged", 60, 0.1), Summary("unmerged-2", "unmerged", 110, 0.2),
            ];
            File.WriteAllText(Path.Combine(dir, "summary.json"), JsonSerializer.Serialize(new { title = "t", summaries = runs }, WorkloadSpec.Json));
            string md = LoraPolicyReport.Write([("hot", dir)], dir);
            // unmerged mean 105 is the better static; dlora mean 101 → 0.96; merged mean 55 → 0.52.
            Assert.Contains("| hot | unmerged | 2 | 105.0 | 1.00 |", md);
            Assert.Contains("| hot | merged | 2 | 55.0 | 0.52 |", md);
            Assert.Contains("| hot | dlora | 2 | 101.0 | 0.96 | 50 | cold (3) | 400 | 80 of 200 | 4 |", md);
            Assert.True(File.Exists(Path.Combine(dir, "lora-policies-throughput.png")));
            Assert.True(File.Exists(Path.Combine(dir, "lora-policies-rare-tpot.png")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
