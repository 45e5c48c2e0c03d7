using ScottPlot;

namespace LoraServe.Engine.Workload;

/// <summary>
/// PNG figures of bench runs over the same trace, drawn headless with ScottPlot: one colour per
/// tenant, one line pattern per policy, so a comparison (FCFS vs VTC …) reads from one image.
/// </summary>
public static class BenchPlots
{
    private static readonly LinePattern[] Patterns = [LinePattern.Solid, LinePattern.Dashed, LinePattern.Dotted, LinePattern.DenselyDashed];

    /// <summary>Writes service.png, ttft.png and service_difference.png into <paramref name="directory"/>; returns their paths.</summary>
    public static IReadOnlyList<string> Write(string directory, IReadOnlyList<BenchRun> runs, WorkloadSpec spec, BenchOptions o, string title)
    {
        Directory.CreateDirectory(directory);
        var palette = new ScottPlot.Palettes.Category10();
        bool weighted = spec.Tenants.Any(t => t.Weight != 1);
        var files = new List<string>();
        double step = Math.Max(o.SampleSeconds, o.WindowSeconds / 20);

        var service = new Plot();
        var ttft = new Plot();
        var diff = new Plot();
        for (int r = 0; r < runs.Count; r++)
        {
            var run = runs[r];
            var times = new List<double>();
            for (double t = 0; t <= run.Duration + 1e-9; t += step) times.Add(t);
            double[] xs = [.. times];
            for (int i = 0; i < spec.Tenants.Count; i++)
            {
                var tenant = spec.Tenants[i];
                double[] ys = [.. times.Select(t => BenchMetrics.ServiceRate(run, tenant.Name, t, o))];
                var line = service.Add.Scatter(xs, ys);
                Style(line, palette.GetColor(i), Patterns[r % Patterns.Length], $"{run.Policy}: {tenant.Name}" + (weighted ? $" (w={tenant.Weight})" : ""));

                var (tx, ty) = WindowedTtft(run, tenant.Name, o.WindowSeconds, step);
                if (tx.Length > 0)
                {
                    var l2 = ttft.Add.Scatter(tx, ty);
                    Style(l2, palette.GetColor(i), Patterns[r % Patterns.Length], $"{run.Policy}: {tenant.Name}");
                }
            }
            double[] gap = [.. times.Select(t =>
            {
                var s = spec.Tenants.Select(ten => BenchMetrics.ServiceAt(run, ten.Name, t, o) / ten.Weight).ToArray();
                return s.Max() - s.Min();
            })];
            var l3 = diff.Add.Scatter(xs, gap);
            Style(l3, palette.GetColor(r), LinePattern.Solid, run.Policy);
        }

        service.Title($"{title}: service rate per tenant ({o.WindowSeconds:G3} s window)");
        service.XLabel("time (s)");
        service.YLabel("service, tokens/s (w_p·in + w_q·out)");
        ttft.Title($"{title}: time to first token ({o.WindowSeconds:G3} s window, by arrival)");
        ttft.XLabel("arrival time (s)");
        ttft.YLabel("mean TTFT (s)");
        diff.Title($"{title}: accumulated service difference (max − min over tenants{(weighted ? ", per weight" : "")})");
        diff.XLabel("time (s)");
        diff.YLabel("weighted tokens");
        foreach (var (plot, name) in new[] { (service, "service.png"), (ttft, "ttft.png"), (diff, "service_difference.png") })
        {
            plot.ShowLegend(Alignment.UpperLeft);
            string path = Path.Combine(directory, name);
            plot.SavePng(path, 1000, 560);
            files.Add(path);
        }
        return files;
    }

    private static void Style(ScottPlot.Plottables.Scatter line, Color color, LinePattern pattern, string label)
    {
        line.Color = color;
        line.LinePattern = pattern;
        line.LineWidth = 2;
        line.MarkerSize = 0;
        line.LegendText = label;
    }

    /// <summary>Mean TTFT of the tenant's requests arriving in a window centred on each tick (unserved requests: time waited so far).</summary>
    private static (double[] X, double[] Y) WindowedTtft(BenchRun run, string tenant, double window, double step)
    {
        var xs = new List<double>();
        var ys = new List<double>();
        var mine = run.Requests.Where(r => r.Tenant == tenant).ToArray();
        for (double t = 0; t <= run.Duration + 1e-9; t += step)
        {
            double sum = 0;
            int n = 0;
            foreach (var r in mine)
            {
                if (r.Arrival < t - window / 2 || r.Arrival >= t + window / 2) continue;
                sum += double.IsNaN(r.FirstToken) ? run.WallSeconds - r.Arrival : r.FirstToken - r.Arrival;
                n++;
            }
            if (n == 0) continue;
            xs.Add(t);
            ys.Add(sum / n);
        }
        return ([.. xs], [.. ys]);
    }
}
