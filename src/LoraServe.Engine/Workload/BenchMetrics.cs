using LoraServe.Engine.Requests;

namespace LoraServe.Engine.Workload;

/// <summary>
/// Computes a run's report. Service follows the VTC paper's measure (w_p·input + w_q·output,
/// vtc.md §7) but is read from the engine's own per-tenant token counters, sampled over time,
/// rather than spread over each request's lifetime as the artifact's plots do; the service rate
/// at t is the service in a window centred on t divided by its width.
/// </summary>
public static class BenchMetrics
{
    public static BenchSummary Summarize(BenchRun run, WorkloadSpec spec, BenchOptions options)
    {
        var weights = spec.Tenants.ToDictionary(t => t.Name, t => t.Weight);
        var tenants = spec.Tenants.Select(t => t.Name).ToArray();
        double d = run.Duration;
        var served = run.Requests.Where(r => !double.IsNaN(r.FirstToken)).ToList();
        double tokensInWindow = 0, outputInWindow = 0;
        foreach (var name in tenants)
        {
            var (p, g) = CumulativeAt(run.Samples, name, d);
            tokensInWindow += p + g;
            outputInWindow += g;
        }

        var tenantSummaries = new List<TenantSummary>();
        foreach (var name in tenants)
        {
            var mine = run.Requests.Where(r => r.Tenant == name).ToList();
            var (p, g) = CumulativeAt(run.Samples, name, d);
            double rate = (options.InputWeight * p + options.OutputWeight * g) / d;
            tenantSummaries.Add(new TenantSummary
            {
                Tenant = name, Weight = weights[name], Requests = mine.Count, Finished = mine.Count(IsFinished),
                PromptTokens = (long)p, GeneratedTokens = (long)g, ServiceRate = rate, ServiceRatePerWeight = rate / weights[name],
                Ttft = Stats(mine.Select(Ttft)), Tpot = Stats(mine.Select(Tpot)), SloAttainment = Slo(mine, options),
            });
        }

        var (diffMax, diffAvg, diffVar) = ServiceDifference(run, spec, options);
        return new BenchSummary
        {
            Policy = run.Policy, Duration = d, WallSeconds = run.WallSeconds, Requests = run.Requests.Count,
            Finished = run.Requests.Count(IsFinished), Rejected = run.Requests.Count(r => r.Reason == FinishReason.Rejected),
            Unfinished = run.Requests.Count(r => r.Reason is FinishReason.Cancelled or FinishReason.None),
            ThroughputTokensPerSecond = tokensInWindow / d, OutputTokensPerSecond = outputInWindow / d,
            RequestsPerSecond = run.Requests.Count(r => IsFinished(r) && r.Finish <= d) / d,
            Ttft = Stats(run.Requests.Select(Ttft)), Tpot = Stats(run.Requests.Select(Tpot)),
            Latency = Stats(run.Requests.Where(IsFinished).Select(r => r.Finish - r.Arrival)),
            SloAttainment = Slo(run.Requests, options), SloTtft = options.SloTtft, SloTpot = options.SloTpot,
            MaxAccumulatedServiceDifference = MaxAccumulatedDifference(run, spec, options),
            ServiceDifferenceMax = diffMax, ServiceDifferenceAvg = diffAvg, ServiceDifferenceVar = diffVar,
            Preemptions = run.Final.Preemptions, Steps = run.Final.Steps,
            TokensPerStep = run.Final.Steps == 0 ? 0 : (double)run.Final.ScheduledTokens / run.Final.Steps,
            LoraPolicy = run.Final.LoraPolicy, MergedSteps = run.Final.MergedSteps, LoraMerges = run.Final.LoraMerges,
            Tenants = tenantSummaries,
            Adapters = [.. run.Requests.GroupBy(r => r.Adapter ?? "").OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal)
                .Select(g => new AdapterSummary
                {
                    Adapter = g.Key, Requests = g.Count(), Finished = g.Count(IsFinished), GeneratedTokens = g.Sum(r => (long)r.OutputTokens),
                    Ttft = Stats(g.Select(Ttft)), Tpot = Stats(g.Select(Tpot)),
                })],
        };
    }

    public static bool IsFinished(RequestRecord r) => r.Reason is FinishReason.Length or FinishReason.EndOfSequence or FinishReason.StopString;

    private static double Ttft(RequestRecord r) => r.FirstToken - r.Arrival;

    private static double Tpot(RequestRecord r) => IsFinished(r) && r.OutputTokens > 1 ? (r.Finish - r.FirstToken) / (r.OutputTokens - 1) : double.NaN;

    private static double Slo(IReadOnlyCollection<RequestRecord> requests, BenchOptions o)
    {
        if (requests.Count == 0) return double.NaN;
        int ok = requests.Count(r => IsFinished(r) && Ttft(r) <= o.SloTtft && !(Tpot(r) > o.SloTpot));
        return (double)ok / requests.Count;
    }

    public static Percentiles Stats(IEnumerable<double> values)
    {
        var v = values.Where(x => !double.IsNaN(x)).OrderBy(x => x).ToArray();
        if (v.Length == 0) return new Percentiles(0, double.NaN, double.NaN, double.NaN, double.NaN);
        return new Percentiles(v.Length, v.Average(), Quantile(v, 0.5), Quantile(v, 0.9), Quantile(v, 0.99));
    }

    private static double Quantile(double[] sorted, double q)
    {
        double pos = q * (sorted.Length - 1);
        int lo = (int)Math.Floor(pos), hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
    }

    /// <summary>Cumulative (prompt, generated) tokens of a tenant at time t, linearly interpolated between samples.</summary>
    public static (double Prompt, double Generated) CumulativeAt(IReadOnlyList<ServiceSample> samples, string tenant, double t)
    {
        (double, double) At(int i) => samples[i].Tenants.TryGetValue(tenant, out var x) ? (x.Prompt, x.Generated) : (0, 0);
        if (samples.Count == 0 || t <= samples[0].Time) return samples.Count == 0 ? (0, 0) : At(0);
        for (int i = 1; i < samples.Count; i++)
        {
            if (samples[i].Time < t) continue;
            var (p0, g0) = At(i - 1);
            var (p1, g1) = At(i);
            double f = (t - samples[i - 1].Time) / Math.Max(1e-9, samples[i].Time - samples[i - 1].Time);
            return (p0 + f * (p1 - p0), g0 + f * (g1 - g0));
        }
        return At(samples.Count - 1);
    }

    /// <summary>Weighted service of a tenant up to t: w_p·prompt + w_q·generated.</summary>
    public static double ServiceAt(BenchRun run, string tenant, double t, BenchOptions o)
    {
        var (p, g) = CumulativeAt(run.Samples, tenant, t);
        return o.InputWeight * p + o.OutputWeight * g;
    }

    /// <summary>Service rate of <paramref name="tenant"/> in the window centred on t.</summary>
    public static double ServiceRate(BenchRun run, string tenant, double t, BenchOptions o)
    {
        // Clamped to the arrival window, so the edges are not diluted by time with no arrivals.
        double half = o.WindowSeconds / 2, lo = Math.Max(0, t - half), hi = Math.Min(run.Duration, t + half);
        if (hi <= lo) return double.NaN;
        return (ServiceAt(run, tenant, hi, o) - ServiceAt(run, tenant, lo, o)) / (hi - lo);
    }

    private static double MaxAccumulatedDifference(BenchRun run, WorkloadSpec spec, BenchOptions o)
    {
        double worst = 0;
        for (double t = 0; t <= run.Duration; t += o.SampleSeconds)
        {
            double min = double.MaxValue, max = double.MinValue;
            foreach (var ten in spec.Tenants)
            {
                double s = ServiceAt(run, ten.Name, t, o) / ten.Weight;
                min = Math.Min(min, s);
                max = Math.Max(max, s);
            }
            worst = Math.Max(worst, max - min);
        }
        return worst;
    }

    /// <summary>
    /// The paper's table metric at window ticks (vtc.md §7): Σ_j min(s_max − s_j, |r_j − s_j|), with
    /// s_j the tenant's service rate in the window and r_j the rate it asked for (its arrivals' weighted
    /// tokens in the window), so a tenant that simply asked for less is not counted as treated unfairly.
    /// Rates are divided by tenant weights. Ticks skip the first window (warm-up).
    /// </summary>
    private static (double Max, double Avg, double Var) ServiceDifference(BenchRun run, WorkloadSpec spec, BenchOptions o)
    {
        var values = new List<double>();
        double w = o.WindowSeconds;
        for (double start = w / 2; start + w <= run.Duration + 1e-9; start += w / 2)
        {
            double end = start + w;
            var s = new Dictionary<string, double>();
            var r = new Dictionary<string, double>();
            foreach (var ten in spec.Tenants)
            {
                s[ten.Name] = (ServiceAt(run, ten.Name, end, o) - ServiceAt(run, ten.Name, start, o)) / w / ten.Weight;
                r[ten.Name] = run.Requests.Where(q => q.Tenant == ten.Name && q.Arrival >= start && q.Arrival < end)
                    .Sum(q => o.InputWeight * q.PromptLength + o.OutputWeight * q.RequestedOutput) / w / ten.Weight;
            }
            double sMax = s.Values.Max();
            values.Add(spec.Tenants.Sum(ten => Math.Min(sMax - s[ten.Name], Math.Abs(r[ten.Name] - s[ten.Name]))));
        }
        if (values.Count == 0) return (double.NaN, double.NaN, double.NaN);
        double avg = values.Average();
        return (values.Max(), avg, values.Sum(v => (v - avg) * (v - avg)) / values.Count);
    }
}
