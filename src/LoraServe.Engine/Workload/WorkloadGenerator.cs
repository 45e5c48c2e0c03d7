namespace LoraServe.Engine.Workload;

/// <summary>
/// Turns a <see cref="WorkloadSpec"/> into a time-sorted trace. Each tenant draws from its own
/// Random (seed + tenant index), so adding a tenant does not change the others' arrivals.
/// </summary>
public static class WorkloadGenerator
{
    public static List<TraceRequest> Generate(WorkloadSpec spec)
    {
        spec.Validate();
        var trace = new List<TraceRequest>();
        for (int i = 0; i < spec.Tenants.Count; i++)
        {
            var t = spec.Tenants[i];
            var rng = new Random(unchecked(spec.Seed * 7919 + i));
            var prompt = t.Prompt.CreateSampler();
            var output = t.Output.CreateSampler();
            var adapter = t.Adapters.CreateSampler();
            double end = Math.Min(t.End ?? spec.Duration, spec.Duration);
            // Uniform arrivals start at a random phase within one gap, as the artifact's trace.py does.
            double time = t.Start + (t.Arrival == ArrivalKind.Uniform ? rng.NextDouble() / t.Rate : ArrivalProcess.NextGap(t.Arrival, t.Rate, t.Cv, rng));
            while (time < end)
            {
                bool on = t.OnOffPeriod <= 0 || (long)Math.Floor(time / t.OnOffPeriod) % 2 == 0;
                // Draw lengths even when off, so the on-periods' requests do not depend on the pattern.
                int p = prompt(rng), o = output(rng);
                string? a = adapter(rng);
                if (on) trace.Add(new TraceRequest(time, t.Name, a, p, o));
                time += ArrivalProcess.NextGap(t.Arrival, t.Rate, t.Cv, rng);
            }
        }
        trace.Sort((x, y) => x.Time.CompareTo(y.Time));
        return trace;
    }
}
