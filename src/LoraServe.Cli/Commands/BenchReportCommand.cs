using System.CommandLine;
using LoraServe.Engine.Workload;

namespace LoraServe.Cli.Commands;

/// <summary>
/// `loraserve bench-report LABEL=DIR …`: the LoRA batching experiments side by side — a markdown
/// table on stdout and two plots (throughput, least requested adapter's p99 per-token latency)
/// across the workloads (docs/experiments.md, scripts/lora-experiments.sh).
/// </summary>
internal static class BenchReportCommand
{
    internal static Command Create()
    {
        var runs = new Argument<string[]>("runs") { Description = "LABEL=DIR pairs: a workload's label and the bench --out directory of its run", Arity = ArgumentArity.OneOrMore };
        var plots = new Option<string>("--plots") { Description = "Directory for lora-policies-throughput.png and lora-policies-rare-tpot.png", DefaultValueFactory = _ => "." };
        var command = new Command("bench-report", "Tabulate and plot bench runs of the LoRA batching policies across workloads") { runs, plots };
        command.SetAction(parse =>
        {
            var pairs = new List<(string, string)>();
            foreach (var r in parse.GetValue(runs)!)
            {
                int eq = r.LastIndexOf('=');
                if (eq <= 0 || eq == r.Length - 1)
                {
                    Console.Error.WriteLine($"error: '{r}' is not LABEL=DIR");
                    return 2;
                }
                pairs.Add((r[..eq], r[(eq + 1)..]));
            }
            try
            {
                Console.Write(LoraPolicyReport.Write(pairs, parse.GetValue(plots)!));
                return 0;
            }
            catch (Exception e) when (e is IOException or FormatException or System.Text.Json.JsonException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
        });
        return command;
    }
}
