using System.CommandLine;
using LoraServe.Engine.LoraBatching;
using LoraServe.Engine.Scheduling;
using LoraServe.Engine.Workload;
using LoraServe.Models.Config;

namespace LoraServe.Cli.Commands;

/// <summary>
/// `loraserve bench`: replays a synthetic multi-tenant workload (a JSON spec or one of the VTC
/// paper's scenarios) against the real engine in this process, under one or more scheduling
/// policies, and writes JSON reports and PNG plots (throughput, TTFT/TPOT percentiles, SLO
/// attainment, per-tenant service over time, the paper's service-difference metrics).
/// </summary>
internal static class BenchCommand
{
    internal static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "Hugging Face model directory (default: the embedded default model, created on first use)" };
        var workload = new Option<string?>("--workload") { Description = "Workload spec JSON (duration, seed, tenants with rate, arrival poisson|gamma|uniform, cv, onOffPeriod, weight, prompt/output lengths, adapters)" };
        var scenario = new Option<string?>("--scenario") { Description = $"Built-in scenario instead of --workload: fairness {string.Join(", ", WorkloadScenarios.Names)}; adapter popularity {string.Join(", ", LoraScenarios.Names)}" };
        var adapterCount = new Option<int>("--adapters") { Description = "Adapter-popularity scenarios: number of random adapters", DefaultValueFactory = _ => 8 };
        var alpha = new Option<double>("--alpha") { Description = "zipf scenario: popularity exponent α (0 = uniform)", DefaultValueFactory = _ => 1 };
        var loraPolicies = new Option<string>("--lora-policies") { Description = $"Comma-separated LoRA batching policies to compare (each under every --policies entry): {string.Join(", ", LoraBatchingPolicies.Names)}", DefaultValueFactory = _ => LoraBatchingPolicies.Unmerged };
        var duration = new Option<double>("--duration") { Description = "Scenario length in seconds", DefaultValueFactory = _ => 60 };
        var rate = new Option<double>("--rate") { Description = "Scenario base request rate per second", DefaultValueFactory = _ => 1 };
        var promptLen = new Option<int>("--prompt-len") { Description = "Scenario prompt length in tokens", DefaultValueFactory = _ => 64 };
        var outputLen = new Option<int>("--output-len") { Description = "Scenario output length in tokens", DefaultValueFactory = _ => 64 };
        var policies = new Option<string>("--policies") { Description = $"Comma-separated scheduling policies to compare on the same trace: {string.Join(", ", FairnessPolicies.Names)}", DefaultValueFactory = _ => "fcfs,vtc" };
        var output = new Option<string>("--out") { Description = "Output directory for summary.json, requests-*.jsonl and plots", DefaultValueFactory = _ => "bench-out" };
        var blocks = new Option<int>("--num-kv-blocks") { Description = "KV cache blocks", DefaultValueFactory = _ => 256 };
        var blockSize = new Option<int>("--block-size") { Description = "Tokens per KV block", DefaultValueFactory = _ => 16 };
        var maxSeqs = new Option<int>("--max-num-seqs") { Description = "Sequences per step", DefaultValueFactory = _ => 16 };
        var maxTokens = new Option<int>("--max-num-batched-tokens") { Description = "Tokens per step (prefill chunks + decodes)", DefaultValueFactory = _ => 256 };
        var maxLoras = new Option<int>("--max-loras") { Description = "Distinct adapters in the running batch; 0 = no limit", DefaultValueFactory = _ => 0 };
        var rank = new Option<int>("--adapter-rank") { Description = "Rank of the random adapters the bench writes", DefaultValueFactory = _ => 8 };
        var rpm = new Option<int>("--rate-limit") { Description = "rate-limit policy: requests per minute per tenant", DefaultValueFactory = _ => 30 };
        var drain = new Option<double>("--drain") { Description = "Seconds to wait for in-flight requests after the last arrival before cancelling them", DefaultValueFactory = _ => 0 };
        var sloTtft = new Option<double>("--slo-ttft") { Description = "Time-to-first-token SLO in seconds", DefaultValueFactory = _ => 2 };
        var sloTpot = new Option<double>("--slo-tpot") { Description = "Per-output-token latency SLO in seconds", DefaultValueFactory = _ => 0.2 };
        var window = new Option<double>("--window") { Description = "Sliding window (seconds) for service rates and the service-difference metric", DefaultValueFactory = _ => 10 };
        var warmup = new Option<double>("--warmup") { Description = "Seconds of untimed load before the first run", DefaultValueFactory = _ => 5 };
        var title = new Option<string?>("--title") { Description = "Title on the plots" };

        var command = new Command("bench", "Replay a multi-tenant workload on the engine and report throughput, latency and fairness");
        foreach (var o in new Option[] { model, workload, scenario, adapterCount, alpha, loraPolicies, duration, rate, promptLen, outputLen, policies, output, blocks, blockSize, maxSeqs, maxTokens, maxLoras, rank, rpm, drain, sloTtft, sloTpot, window, warmup, title })
            command.Options.Add(o);
        command.SetAction(parse =>
        {
            string? file = parse.GetValue(workload), preset = parse.GetValue(scenario);
            if ((file is null) == (preset is null))
            {
                Console.Error.WriteLine("error: give exactly one of --workload or --scenario");
                return 2;
            }
            try
            {
                var spec = file is not null ? WorkloadSpec.Load(file)
                    : LoraScenarios.Names.Contains(preset!) ? LoraScenarios.Create(preset!, parse.GetValue(duration), parse.GetValue(rate), parse.GetValue(promptLen), parse.GetValue(outputLen), parse.GetValue(adapterCount), parse.GetValue(alpha))
                    : WorkloadScenarios.Create(preset!, parse.GetValue(duration), parse.GetValue(rate), parse.GetValue(promptLen), parse.GetValue(outputLen));
                var names = parse.GetValue(policies)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                foreach (var n in names) FairnessPolicies.Create(n);
                var loraNames = parse.GetValue(loraPolicies)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                foreach (var n in loraNames)
                    if (!LoraBatchingPolicies.Names.Contains(n)) throw new ArgumentException($"unknown LoRA policy '{n}'; expected one of: {string.Join(", ", LoraBatchingPolicies.Names)}");
                var options = new BenchOptions
                {
                    ModelDirectory = parse.GetValue(model) ?? DefaultModel.EnsureCreated(Console.Error),
                    OutputDirectory = parse.GetValue(output)!,
                    Policies = names, LoraPolicies = loraNames,
                    NumKvBlocks = parse.GetValue(blocks), BlockSize = parse.GetValue(blockSize),
                    MaxNumSeqs = parse.GetValue(maxSeqs), MaxNumBatchedTokens = parse.GetValue(maxTokens), MaxLoras = parse.GetValue(maxLoras),
                    AdapterRank = parse.GetValue(rank), RequestsPerMinute = parse.GetValue(rpm), DrainSeconds = parse.GetValue(drain),
                    SloTtft = parse.GetValue(sloTtft), SloTpot = parse.GetValue(sloTpot), WindowSeconds = parse.GetValue(window), WarmupSeconds = parse.GetValue(warmup),
                };
                var summaries = BenchSession.Run(spec, options, Console.Error, parse.GetValue(title) ?? preset ?? Path.GetFileNameWithoutExtension(file!));
                foreach (var s in summaries)
                {
                    Console.WriteLine($"{s.Policy,-12} {s.ThroughputTokensPerSecond,8:F1} tok/s  TTFT p50 {s.Ttft.P50,7:F3}s p99 {s.Ttft.P99,7:F3}s  TPOT p50 {s.Tpot.P50 * 1000,6:F1}ms  SLO {s.SloAttainment,6:P1}  service diff max {s.ServiceDifferenceMax,8:F1} avg {s.ServiceDifferenceAvg,8:F1}  accumulated {s.MaxAccumulatedServiceDifference,9:F0}  {s.TokensPerStep,6:F1} tok/step");
                    if (s.MergedSteps > 0 || s.Adapters.Count > 1)
                    {
                        var rare = s.Adapters.LastOrDefault(a => a.Adapter.Length > 0);
                        Console.WriteLine($"{"",-12} lora {s.LoraPolicy}: {s.MergedSteps} of {s.Steps} steps merged, {s.LoraMerges} merges; TPOT p99 {s.Tpot.P99 * 1000,6:F1}ms; least requested adapter {rare?.Adapter} ({rare?.Requests} requests) TPOT p99 {rare?.Tpot.P99 * 1000,6:F1}ms");
                    }
                }
                Console.WriteLine($"reports in {Path.GetFullPath(options.OutputDirectory)}");
                return 0;
            }
            catch (Exception e) when (e is ModelFormatException or ArgumentException or IOException or FormatException or System.Text.Json.JsonException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
        });
        return command;
    }
}
