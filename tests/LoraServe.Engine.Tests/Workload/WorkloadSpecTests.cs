using LoraServe.Engine.Workload;

namespace LoraServe.Engine.Tests.Workload;

public sealed class WorkloadSpecTests
{
    // The example in docs/experiments.md ("Custom workloads").
    private const string Example = """
        {
          "duration": 120, "seed": 7,
          "tenants": [
            { "name": "chat", "rate": 4, "arrival": "Gamma", "cv": 2.0, "weight": 2,
              "prompt": { "kind": "Uniform", "min": 32, "max": 256 },
              "output": { "kind": "Fixed", "min": 64 },
              "adapters": { "kind": "Zipf", "count": 8, "alpha": 1.1 } },
            { "name": "batch", "rate": 1, "arrival": "Poisson", "onOffPeriod": 30,
              "adapters": { "kind": "Explicit", "names": ["lora-0", "lora-1"], "weights": [3, 1] } }
          ]
        }
        """;

    [Fact]
    public void The_documented_example_parses_and_generates()
    {
        string path = Path.Combine(Path.GetTempPath(), $"workload-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, Example);
        try
        {
            var spec = WorkloadSpec.Load(path);
            Assert.Equal(120, spec.Duration);
            var chat = spec.Tenants[0];
            Assert.Equal(ArrivalKind.Gamma, chat.Arrival);
            Assert.Equal(PopularityKind.Zipf, chat.Adapters.Kind);
            Assert.Equal(LengthKind.Uniform, chat.Prompt.Kind);
            Assert.Equal(30, spec.Tenants[1].OnOffPeriod);
            var trace = WorkloadGenerator.Generate(spec);
            Assert.Contains(trace, r => r.Tenant == "batch" && r.Adapter == "lora-1");
            Assert.All(trace.Where(r => r.Tenant == "chat"), r => Assert.InRange(r.PromptLength, 32, 256));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
