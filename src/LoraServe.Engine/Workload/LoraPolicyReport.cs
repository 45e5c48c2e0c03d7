using System.Globalization;
using System.Text;
using System.Text.Json;
using ScottPlot;

namespace LoraServe.Engine.Workload;

/// <summary>
/// Puts several `bench --lora-policies …` runs (one per workload: Zipf α, hot adapter, shifting hot
/// adapter) side by side: a markdown table per workload — throughput and its ratio to the better of
/// the two static policies, p99 per-token latency overall and for the least requested adapter,
/// merged steps and merges — and two plots across workloads (`bench-report`, docs/experiments.md).
/// A policy run several times on the same trace (`--lora-policies unmerged,merged,dlora,dlora,merged,unmerged`,
/// an ABCCBA order that cancels a linear drift of the shared machine's speed) is reported as the
/// mean of its runs.
/// </summary>
public static class LoraPolicyReport
{
    private sealed record SummaryFile(string Title, IReadOnlyList<BenchSummary> Summaries);

    /// <param name="runs">(workload label, bench output directory holding summary.json)</param>
    /// <returns>the markdown report</returns>
    public static string Write(IReadOnlyList<(string Label, string Directory)> runs, string plotDirectory)
    {
        var workloads = runs.Select(r => (r.Label, Summaries: Aggregate(Load(Path.Combine(r.Directory, "summary.json"))))).ToList();
        var policies = workloads.SelectMany(w => w.Summaries.Select(s => s.Policy)).Distinct().ToList();
        var md = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        md.AppendLine("| workload | policy | runs | tok/s | ÷ better static | TPOT p99 ms | least requested adapter (requests) | its TPOT p99 ms | merged steps | merges |");
        md.AppendLine("|---|---|---:|---:|---:|---:|---|---:|---:|---:|");
        foreach (var (label, summaries) in workloads)
        {
            double bestStatic = summaries.Where(s => s.Policy != LoraBatching.LoraBatchingPolicies.Dlora).Select(s => s.ThroughputTokensPerSecond).DefaultIfEmpty(double.NaN).Max();
            foreach (var s in summaries)
            {
                var rare = LeastRequested(s);
                md.AppendLine(string.Create(inv, $"| {label} | {s.Policy} | {s.Runs} | {s.ThroughputTokensPerSecond:F1} | {s.ThroughputTokensPerSecond / bestStatic:F2} | {s.TpotP99 * 1000:F0} | {rare?.Adapter} ({rare?.Requests}) | {rare?.TpotP99 * 1000:F0} | {s.MergedSteps} of {s.Steps} | {s.Merges} |"));
            }
        }

        Directory.CreateDirectory(plotDirectory);
        var palette = new ScottPlot.Palettes.Category10();
        var throughput = new Plot();
        var latency = new Plot();
        double[] xs = [.. Enumerable.Range(0, workloads.Count).Select(i => (double)i)];
        for (int p = 0; p < policies.Count; p++)
        {
            double[] tps = [.. workloads.Select(w => w.Summaries.FirstOrDefault(s => s.Policy == policies[p])?.ThroughputTokensPerSecond ?? double.NaN)];
            double[] rare = [.. workloads.Select(w => w.Summaries.FirstOrDefault(s => s.Policy == policies[p]) is { } s ? (LeastRequested(s)?.TpotP99 ?? double.NaN) * 1000 : double.NaN)];
            Line(throughput.Add.Scatter(xs, tps), palette.GetColor(p), policies[p]);
            Line(latency.Add.Scatter(xs, rare), palette.GetColor(p), policies[p]);
        }
        var ticks = workloads.Select((w, i) => new Tick(i, w.Label)).ToArray();
        foreach (var (plot, title, y) in new[] { (throughput, "throughput by adapter popularity", "tokens/s (prompt + output, arrival window)"), (latency, "p99 per-token latency of the least requested adapter", "TPOT p99 (ms)") })
        {
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks);
            plot.Title(title);
            plot.YLabel(y);
            plot.ShowLegend(Alignment.UpperRight);
        }
        throughput.SavePng(Path.Combine(plotDirectory, "lora-policies-throughput.png"), 1000, 520);
        latency.SavePng(Path.Combine(plotDirectory, "lora-policies-rare-tpot.png"), 1000, 520);
        return md.ToString();
    }

    private sealed record AdapterRow(string Adapter, int Requests, double TpotP99);

    private sealed record PolicyRow(string Policy, int Runs, double ThroughputTokensPerSecond, double TpotP99, long MergedSteps, long Steps, long Merges, IReadOnlyList<AdapterRow> Adapters);

    /// <summary>One row per LoRA policy: means over its runs (sums for steps and merges).</summary>
    private static List<PolicyRow> Aggregate(IReadOnlyList<BenchSummary> summaries) =>
        [.. summaries.GroupBy(s => s.LoraPolicy).Select(g => new PolicyRow(g.Key, g.Count(),
            g.Average(s => s.ThroughputTokensPerSecond), g.Average(s => s.Tpot.P99), g.Sum(s => s.MergedSteps), g.Sum(s => s.Steps), g.Sum(s => s.LoraMerges),
            [.. g.SelectMany(s => s.Adapters).Where(a => a.Adapter.Length > 0 && a.Tpot.Count > 0).GroupBy(a => a.Adapter)
                .Select(a => new AdapterRow(a.Key, a.First().Requests, a.Average(x => x.Tpot.P99)))]))];

    /// <summary>The adapter with the fewest requests that has at least one finished with a per-token latency.</summary>
    private static AdapterRow? LeastRequested(PolicyRow s) =>
        s.Adapters.OrderBy(a => a.Requests).ThenBy(a => a.Adapter, StringComparer.Ordinal).FirstOrDefault();

    private static IReadOnlyList<BenchSummary> Load(string path)
    {
        var file = JsonSerializer.Deserialize<SummaryFile>(File.ReadAllText(path), WorkloadSpec.Json) ?? throw new FormatException($"{path}: empty summary");
        return file.Summaries;
    }

    private static void Line(ScottPlot.Plottables.Scatter line, Color color, string label)
    {
        line.Color = color;
        line.LineWidth = 2;
        line.MarkerSize = 8;
        line.LegendText = label;
    }
}
