using System.Collections.Concurrent;

namespace LoraServe.Server.Metrics;

/// <summary>
/// What only the HTTP layer sees: latency histograms (vLLM's buckets), finished requests by
/// reason per tenant and per adapter, error responses by status, and which adapters have requests
/// waiting for a first token or running (vLLM's lora_requests_info). Token and queue totals come
/// from the engine's statistics at scrape time instead.
/// </summary>
public sealed class ServerMetrics
{
    public Histogram TimeToFirstToken { get; } = new([0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0]);
    public Histogram TimePerOutputToken { get; } = new([0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0]);
    public Histogram E2eLatency { get; } = new([0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0]);

    internal ConcurrentDictionary<string, long> FinishedByReason { get; } = new(StringComparer.Ordinal);
    internal ConcurrentDictionary<(string Tenant, string Reason), long> TenantRequests { get; } = new();
    internal ConcurrentDictionary<(string Adapter, string Reason), long> AdapterRequests { get; } = new();
    internal ConcurrentDictionary<int, long> ErrorResponses { get; } = new();

    /// <summary>Per adapter ("" = base): [0] requests waiting for their first token, [1] requests generating.</summary>
    internal ConcurrentDictionary<string, int[]> AdapterActivity { get; } = new(StringComparer.Ordinal);

    public void RecordError(int status) => ErrorResponses.AddOrUpdate(status, 1, (_, n) => n + 1);

    internal void AdapterEntered(string adapter) => Interlocked.Increment(ref AdapterActivity.GetOrAdd(adapter, _ => new int[2])[0]);

    internal void AdapterStarted(string adapter)
    {
        var a = AdapterActivity.GetOrAdd(adapter, _ => new int[2]);
        Interlocked.Decrement(ref a[0]);
        Interlocked.Increment(ref a[1]);
    }

    internal void AdapterLeft(string adapter, bool started) => Interlocked.Decrement(ref AdapterActivity.GetOrAdd(adapter, _ => new int[2])[started ? 1 : 0]);

    /// <summary>Records a request that ran in the engine; times in seconds, NaN when there was no first token.</summary>
    public void RecordFinished(string tenant, string adapter, string reason, double ttft, double e2e, int outputTokens)
    {
        FinishedByReason.AddOrUpdate(reason, 1, (_, n) => n + 1);
        TenantRequests.AddOrUpdate((tenant, reason), 1, (_, n) => n + 1);
        AdapterRequests.AddOrUpdate((adapter, reason), 1, (_, n) => n + 1);
        if (!double.IsNaN(ttft)) TimeToFirstToken.Observe(ttft);
        E2eLatency.Observe(e2e);
        if (outputTokens > 1 && !double.IsNaN(ttft)) TimePerOutputToken.Observe((e2e - ttft) / (outputTokens - 1));
    }
}
