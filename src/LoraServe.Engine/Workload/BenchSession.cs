using System.Text.Json;
using LoraServe.Lora.Registry;
using LoraServe.Models.Config;
using LoraServe.Models.Llama;
using LoraServe.Models.Weights;

namespace LoraServe.Engine.Workload;

/// <summary>
/// `loraserve bench` end to end: load the model directory, make the workload's adapters (random
/// PEFT directories under the output folder), generate the trace once, run it under each policy,
/// and write trace.jsonl, summary.json (all policies), requests-POLICY.jsonl and the plots.
/// </summary>
public static class BenchSession
{
    public static IReadOnlyList<BenchSummary> Run(WorkloadSpec spec, BenchOptions options, TextWriter progress, string title = "bench")
    {
        spec.Validate();
        Directory.CreateDirectory(options.OutputDirectory);
        var config = ModelConfigLoader.Load(options.ModelDirectory);
        using var model = new LlamaModel(LlamaWeightsLoader.Load(options.ModelDirectory, config));

        var names = spec.Tenants.SelectMany(t => t.Adapters.AdapterNames()).Distinct().ToArray();
        AdapterRegistry? registry = null;
        if (names.Length > 0)
        {
            registry = new AdapterRegistry(config, new AdapterRegistryOptions { MaxCpuLoras = Math.Max(64, names.Length), MaxLoraRank = Math.Max(64, options.AdapterRank) });
            for (int i = 0; i < names.Length; i++)
            {
                string dir = Path.Combine(options.OutputDirectory, "adapters", names[i]);
                BenchAdapters.WriteRandom(dir, names[i], config, options.AdapterRank, seed: spec.Seed + i);
                registry.Register(names[i], dir);
            }
            progress.WriteLine($"wrote {names.Length} random rank-{options.AdapterRank} adapters under {Path.Combine(options.OutputDirectory, "adapters")}");
        }

        var trace = WorkloadGenerator.Generate(spec);
        progress.WriteLine($"trace: {trace.Count} requests over {spec.Duration:F0}s from {spec.Tenants.Count} tenants ({string.Join(", ", spec.Tenants.Select(t => $"{t.Name}: {trace.Count(r => r.Tenant == t.Name)}"))})");
        File.WriteAllLines(Path.Combine(options.OutputDirectory, "trace.jsonl"), trace.Select(r => JsonSerializer.Serialize(r, WorkloadSpec.Json)));
        File.WriteAllText(Path.Combine(options.OutputDirectory, "workload.json"), JsonSerializer.Serialize(spec, WorkloadSpec.Json));

        BenchRunner.Warmup(model, registry, trace, options, options.WarmupSeconds, progress);
        var runs = new List<BenchRun>();
        var summaries = new List<BenchSummary>();
        // A policy listed twice (fcfs,vtc,fcfs,vtc) runs twice, labelled fcfs-1, fcfs-2: alternating runs
        // expose drift in machine speed when comparing throughput on a shared machine.
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        // With several LoRA policies the label names the LoRA policy (and the fairness policy too when there are several).
        var pairs = options.Policies.SelectMany(f => options.LoraPolicies.Select(l => (Fairness: f, Lora: l,
            Name: options.LoraPolicies.Count == 1 ? f : options.Policies.Distinct().Count() == 1 ? l : $"{f}+{l}"))).ToList();
        foreach (var (policy, lora, name) in pairs)
        {
            int n = seen[name] = seen.GetValueOrDefault(name) + 1;
            string label = pairs.Count(p => p.Name == name) > 1 ? $"{name}-{n}" : name;
            var run = BenchRunner.Run(model, registry, spec, trace, policy, lora, options, progress) with { Policy = label };
            runs.Add(run);
            var summary = BenchMetrics.Summarize(run, spec, options);
            summaries.Add(summary);
            File.WriteAllLines(Path.Combine(options.OutputDirectory, $"requests-{label}.jsonl"), run.Requests.Select(r => JsonSerializer.Serialize(r, WorkloadSpec.Json)));
            progress.WriteLine($"[{label}] throughput {summary.ThroughputTokensPerSecond:F1} tok/s, TTFT p50 {summary.Ttft.P50:F3}s p99 {summary.Ttft.P99:F3}s, TPOT p50 {summary.Tpot.P50 * 1000:F1}ms, SLO {summary.SloAttainment:P1}, service diff max {summary.ServiceDifferenceMax:F1} avg {summary.ServiceDifferenceAvg:F1}");
        }
        File.WriteAllText(Path.Combine(options.OutputDirectory, "summary.json"), JsonSerializer.Serialize(new { title, options, summaries }, WorkloadSpec.Json));
        foreach (var f in BenchPlots.Write(options.OutputDirectory, runs, spec, options, title)) progress.WriteLine($"wrote {f}");
        return summaries;
    }
}
