using System.Diagnostics;
using LoraServe.Engine.Requests;
using LoraServe.Engine.Scheduling;
using LoraServe.Lora.Registry;
using LoraServe.Models.Llama;

namespace LoraServe.Engine.Workload;

/// <summary>
/// Replays a trace against the real engine in this process, in real time: each request is
/// submitted at its arrival time (prompt of random token ids, ignore_eos and max_tokens = its
/// output length, as the VTC artifact's client does), engine statistics are sampled on a fixed
/// period, and progress goes to <c>progress</c> (stderr in the CLI) once a second.
/// </summary>
public static class BenchRunner
{
    /// <summary>
    /// Runs the trace's first requests back to back for <paramref name="seconds"/> on a throwaway
    /// engine, so JIT tiering and first-touch page faults do not bias whichever policy runs first.
    /// </summary>
    public static void Warmup(LlamaModel model, AdapterRegistry? adapters, IReadOnlyList<TraceRequest> trace, BenchOptions options, double seconds, TextWriter progress)
    {
        if (trace.Count == 0 || seconds <= 0) return;
        var engineOptions = new EngineOptions
        {
            NumKvBlocks = options.NumKvBlocks, BlockSize = options.BlockSize,
            Scheduler = new SchedulerOptions { MaxNumSeqs = options.MaxNumSeqs, MaxNumBatchedTokens = options.MaxNumBatchedTokens, MaxLoras = options.MaxLoras },
        };
        using var engine = new LlmEngine(model, engineOptions, adapters);
        long start = Stopwatch.GetTimestamp();
        int i = 0;
        var inFlight = new List<RequestHandle>();
        while (Stopwatch.GetElapsedTime(start).TotalSeconds < seconds)
        {
            inFlight.RemoveAll(h => h.Tokens.Completion.IsCompleted);
            while (inFlight.Count < options.MaxNumSeqs)
            {
                var t = trace[i++ % trace.Count];
                var prompt = new int[t.PromptLength];
                for (int k = 0; k < prompt.Length; k++) prompt[k] = (k * 31 + i) % model.Config.VocabSize;
                var request = new Request { Tenant = t.Tenant, Adapter = t.Adapter, PromptTokens = prompt, Options = new RequestOptions { MaxTokens = t.OutputLength, IgnoreEos = true } };
                try
                {
                    var h = engine.Submit(request);
                    inFlight.Add(h);
                    _ = DrainAsync(h);
                }
                catch (ArgumentException) { break; }
            }
            Thread.Sleep(10);
        }
        engine.StopAsync(drain: false).GetAwaiter().GetResult();
        progress.WriteLine($"warm-up: {i} requests in {seconds:F0}s");
    }

    private static async Task DrainAsync(RequestHandle h)
    {
        await foreach (var _ in h.Tokens.ReadAllAsync().ConfigureAwait(false)) { }
    }

    /// <summary>Runs the trace under fairness <paramref name="policy"/> and LoRA policy <paramref name="loraPolicy"/>; the dlora cost model is calibrated before the clock starts.</summary>
    public static BenchRun Run(LlamaModel model, AdapterRegistry? adapters, WorkloadSpec spec, IReadOnlyList<TraceRequest> trace, string policy, string loraPolicy, BenchOptions options, TextWriter progress)
    {
        var engineOptions = new EngineOptions
        {
            NumKvBlocks = options.NumKvBlocks, BlockSize = options.BlockSize, Policy = policy, LoraPolicy = loraPolicy,
            Scheduler = new SchedulerOptions { MaxNumSeqs = options.MaxNumSeqs, MaxNumBatchedTokens = options.MaxNumBatchedTokens, MaxLoras = options.MaxLoras },
            Fairness = new FairnessOptions
            {
                InputWeight = options.InputWeight, OutputWeight = options.OutputWeight, RequestsPerMinute = options.RequestsPerMinute,
                TenantWeights = spec.Tenants.ToDictionary(t => t.Name, t => t.Weight),
            },
        };
        int vocab = model.Config.VocabSize;
        var handles = new (RequestHandle? Handle, TraceRequest Trace, string? Error)[trace.Count];
        var samples = new List<ServiceSample>();
        var engine = new LlmEngine(model, engineOptions, adapters);
        long start = Stopwatch.GetTimestamp();
        double Now() => Stopwatch.GetElapsedTime(start).TotalSeconds;
        double nextSample = 0, nextProgress = 1;
        int next = 0, submitted = 0;
        double drainUntil = spec.Duration + options.DrainSeconds;

        while (true)
        {
            double now = Now();
            while (next < trace.Count && trace[next].Time <= now)
            {
                var t = trace[next];
                var rng = new Random(unchecked(spec.Seed * 31 + next));
                var prompt = new int[t.PromptLength];
                for (int i = 0; i < prompt.Length; i++) prompt[i] = rng.Next(vocab);
                var request = new Request
                {
                    Tenant = t.Tenant, Adapter = t.Adapter, PromptTokens = prompt, ExternalId = next.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    Options = new RequestOptions { MaxTokens = t.OutputLength, IgnoreEos = true },
                };
                try
                {
                    handles[next] = (engine.Submit(request), t, null);
                    submitted++;
                }
                catch (Exception e) when (e is ArgumentException or AdapterNotFoundException or AdapterCacheFullException)
                {
                    handles[next] = (null, t, e.Message);
                }
                next++;
            }
            var stats = engine.Statistics;
            if (now >= nextSample)
            {
                samples.Add(Sample(now, stats));
                nextSample += options.SampleSeconds;
            }
            if (now >= nextProgress)
            {
                progress.WriteLine($"[{policy}/{loraPolicy}] t={now,6:F1}/{spec.Duration:F0}s submitted {submitted} finished {stats.FinishedRequests} waiting {stats.Waiting} running {stats.Running} kv {stats.KvUsage:P0} generated {stats.GeneratedTokens} preemptions {stats.Preemptions} merged steps {stats.MergedSteps} merges {stats.LoraMerges}");
                nextProgress += 1;
            }
            bool arrivalsDone = next == trace.Count && now >= spec.Duration;
            if (arrivalsDone && (now >= drainUntil || stats.FinishedRequests >= submitted)) break;
            double wake = Math.Min(nextSample, next < trace.Count ? trace[next].Time : double.MaxValue);
            double sleep = wake - Now();
            if (sleep > 0.002) Thread.Sleep(TimeSpan.FromSeconds(Math.Min(sleep, 0.05)));
        }

        double wall = Now();
        engine.StopAsync(drain: false).GetAwaiter().GetResult();
        var final = engine.Statistics;
        samples.Add(Sample(wall, final));
        engine.Dispose();

        var records = new List<RequestRecord>(trace.Count);
        foreach (var (handle, t, error) in handles)
        {
            if (handle is null)
            {
                records.Add(new RequestRecord(t.Tenant, t.Adapter, t.Time, double.NaN, double.NaN, t.PromptLength, t.OutputLength, 0, FinishReason.Error));
                continue;
            }
            int tokens = 0;
            var reason = FinishReason.None;
            while (handle.Tokens.TryRead(out var e))
            {
                if (e.HasToken) tokens++;
                if (e.Finish != FinishReason.None) reason = e.Finish;
            }
            records.Add(new RequestRecord(t.Tenant, t.Adapter, t.Time, Seconds(start, handle.FirstTokenTicks), Seconds(start, handle.FinishTicks), t.PromptLength, t.OutputLength, tokens, reason));
        }
        progress.WriteLine($"[{policy}] done in {wall:F1}s: {records.Count(r => r.Reason is FinishReason.Length or FinishReason.EndOfSequence)} of {records.Count} requests finished");
        return new BenchRun(policy, spec.Duration, wall, records, samples, final);
    }

    private static ServiceSample Sample(double time, EngineStatistics stats) =>
        new(time, stats.Tenants.ToDictionary(kv => kv.Key, kv => (kv.Value.PromptTokens, kv.Value.GeneratedTokens)));

    private static double Seconds(long start, long ticks) => ticks == 0 ? double.NaN : Stopwatch.GetElapsedTime(start, ticks).TotalSeconds;
}
