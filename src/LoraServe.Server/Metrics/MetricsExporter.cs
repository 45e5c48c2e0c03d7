using LoraServe.Engine;
using LoraServe.Server.Serving;

namespace LoraServe.Server.Metrics;

/// <summary>
/// Renders /metrics from the engine's latest statistics, the adapter registry and
/// <see cref="ServerMetrics"/>. vLLM's names where vLLM has the metric (vllm:num_requests_running,
/// vllm:prompt_tokens_total, vllm:time_to_first_token_seconds …, with its model_name label), so
/// dashboards and routers built for vLLM work; loraserve:* for the rest (per tenant, per adapter,
/// KV blocks, adapter cache, admission). KV usage is loraserve:kv_cache_usage_perc, with
/// vllm:kv_cache_usage_perc (vLLM's device-neutral name since it retired gpu_cache_usage_perc) as an alias.
/// </summary>
internal static class MetricsExporter
{
    public static string Render(ServingContext serving)
    {
        var w = new PrometheusTextWriter();
        var stats = serving.Engine.Statistics;
        var m = serving.Metrics;
        string baseName = serving.Catalog.BaseName;
        var model = ("model_name", baseName);

        Gauge(w, "vllm:num_requests_running", "Requests in the engine's running batch.", stats.Running, model);
        Gauge(w, "vllm:num_requests_waiting", "Requests waiting in the engine's fairness queues.", stats.Waiting, model);
        Gauge(w, "loraserve:kv_cache_usage_perc", "Share of KV cache blocks in use (0..1).", stats.KvUsage, model);
        Gauge(w, "vllm:kv_cache_usage_perc", "Alias of loraserve:kv_cache_usage_perc under vLLM's name.", stats.KvUsage, model);
        Gauge(w, "loraserve:kv_blocks_used", "KV cache blocks in use.", stats.KvBlocksUsed, model);
        Gauge(w, "loraserve:kv_blocks_total", "KV cache blocks in the pool.", stats.KvBlocksTotal, model);
        Counter(w, "vllm:prompt_tokens_total", "Prompt tokens processed (once per request).", stats.PromptTokens, model);
        Counter(w, "vllm:generation_tokens_total", "Tokens generated.", stats.GeneratedTokens, model);
        Counter(w, "vllm:num_preemptions_total", "Sequences preempted (recomputed) for lack of KV blocks.", stats.Preemptions, model);
        Counter(w, "loraserve:engine_steps_total", "Engine iterations run.", stats.Steps, model);
        Counter(w, "loraserve:lora_merged_steps_total", "Engine iterations run with an adapter merged into the weights (--lora-policy merged or dlora).", stats.MergedSteps, model);
        Counter(w, "loraserve:lora_merges_total", "Adapter merges into the base weights (each undone by one unmerge).", stats.LoraMerges, model);

        w.Family("vllm:request_success_total", "counter", "Finished requests by finish reason (stop, length, abort, error).");
        foreach (var (reason, n) in m.FinishedByReason.OrderBy(p => p.Key, StringComparer.Ordinal)) w.Sample("vllm:request_success_total", n, model, ("finished_reason", reason));
        w.Histogram("vllm:time_to_first_token_seconds", "Seconds from arrival to the first generated token.", m.TimeToFirstToken, model);
        w.Histogram("vllm:time_per_output_token_seconds", "Mean seconds between output tokens of a request, after the first.", m.TimePerOutputToken, model);
        w.Histogram("vllm:e2e_request_latency_seconds", "Seconds from arrival to the last token.", m.E2eLatency, model);

        // vLLM's info gauge (value: a timestamp) that LoRA-aware routers read to place requests on replicas holding their adapter.
        var running = m.AdapterActivity.Where(p => p.Key.Length > 0 && Volatile.Read(ref p.Value[1]) > 0).Select(p => p.Key).Order(StringComparer.Ordinal);
        var waiting = m.AdapterActivity.Where(p => p.Key.Length > 0 && Volatile.Read(ref p.Value[0]) > 0).Select(p => p.Key).Order(StringComparer.Ordinal);
        w.Family("vllm:lora_requests_info", "gauge", "Running and waiting LoRA adapters (labels); the value is the time of the scrape.");
        w.Sample("vllm:lora_requests_info", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0,
            ("max_lora", serving.Engine.Options.Scheduler.MaxLoras.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("running_lora_adapters", string.Join(',', running)), ("waiting_lora_adapters", string.Join(',', waiting)));

        var tenants = stats.Tenants.OrderBy(p => p.Key, StringComparer.Ordinal).ToList();
        PerKey(w, "loraserve:tenant_prompt_tokens_total", "counter", "Prompt tokens served per tenant.", "tenant", tenants, c => c.PromptTokens);
        PerKey(w, "loraserve:tenant_generation_tokens_total", "counter", "Tokens generated per tenant.", "tenant", tenants, c => c.GeneratedTokens);
        PerKey(w, "loraserve:tenant_requests_running", "gauge", "Running requests per tenant.", "tenant", tenants, c => c.Running);
        PerKey(w, "loraserve:tenant_requests_waiting", "gauge", "Waiting requests per tenant.", "tenant", tenants, c => c.Waiting);
        w.Family("loraserve:tenant_virtual_token_counter", "gauge", "The fairness policy's virtual token counter per tenant (VTC, DESIGN §5.1).");
        foreach (var (tenant, c) in tenants)
            if (!double.IsNaN(c.VirtualCounter)) w.Sample("loraserve:tenant_virtual_token_counter", c.VirtualCounter, ("tenant", tenant));
        w.Family("loraserve:tenant_requests_total", "counter", "Finished requests per tenant and finish reason.");
        foreach (var ((tenant, reason), n) in m.TenantRequests.OrderBy(p => p.Key.Tenant, StringComparer.Ordinal).ThenBy(p => p.Key.Reason, StringComparer.Ordinal))
            w.Sample("loraserve:tenant_requests_total", n, ("tenant", tenant), ("finished_reason", reason));

        // The base model's traffic is labelled with its served name (adapter names may not equal it).
        var adapters = stats.Adapters.Select(p => (Key: p.Key.Length == 0 ? baseName : p.Key, p.Value)).OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => new KeyValuePair<string, ServiceCounters>(p.Key, p.Value)).ToList();
        PerKey(w, "loraserve:adapter_prompt_tokens_total", "counter", "Prompt tokens served per adapter (the base model under its own name).", "adapter", adapters, c => c.PromptTokens);
        PerKey(w, "loraserve:adapter_generation_tokens_total", "counter", "Tokens generated per adapter.", "adapter", adapters, c => c.GeneratedTokens);
        w.Family("loraserve:adapter_requests_total", "counter", "Finished requests per adapter and finish reason.");
        foreach (var ((adapter, reason), n) in m.AdapterRequests.OrderBy(p => p.Key.Adapter, StringComparer.Ordinal).ThenBy(p => p.Key.Reason, StringComparer.Ordinal))
            w.Sample("loraserve:adapter_requests_total", n, ("adapter", adapter.Length == 0 ? baseName : adapter), ("finished_reason", reason));
        w.Family("loraserve:adapter_requests_in_flight", "gauge", "Requests per adapter waiting for a first token (state=waiting) or generating (state=running).");
        foreach (var (adapter, a) in m.AdapterActivity.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            string label = adapter.Length == 0 ? baseName : adapter;
            w.Sample("loraserve:adapter_requests_in_flight", Volatile.Read(ref a[0]), ("adapter", label), ("state", "waiting"));
            w.Sample("loraserve:adapter_requests_in_flight", Volatile.Read(ref a[1]), ("adapter", label), ("state", "running"));
        }

        Gauge(w, "loraserve:lora_registered_adapters", "Adapters the server serves.", serving.Catalog.Adapters.Count());
        Gauge(w, "loraserve:lora_cached_adapters", "Adapters loaded in the host-memory cache.", serving.Adapters.CachedCount);
        Gauge(w, "loraserve:lora_cache_bytes", "Bytes of adapter weights in the host-memory cache.", serving.Adapters.CachedBytes);
        Gauge(w, "loraserve:lora_cache_max_bytes", "Byte budget of the host-memory adapter cache.", serving.Adapters.Options.MaxCacheBytes);

        Gauge(w, "loraserve:admission_waiting", "Requests admitted by the server and waiting for their first token.", serving.Admission.Waiting);
        Gauge(w, "loraserve:admission_max_waiting", "Bound on waiting requests before 429 (--max-waiting).", serving.Admission.MaxWaiting);
        Gauge(w, "loraserve:requests_in_flight", "Requests between submission and their end.", serving.Admission.InFlight);
        w.Family("loraserve:http_errors_total", "counter", "Error responses by HTTP status.");
        foreach (var (status, n) in m.ErrorResponses.OrderBy(p => p.Key))
            w.Sample("loraserve:http_errors_total", n, ("status", status.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        return w.ToString();
    }

    private static void Gauge(PrometheusTextWriter w, string name, string help, double value, params (string, string)[] labels)
    {
        w.Family(name, "gauge", help);
        w.Sample(name, value, labels);
    }

    private static void Counter(PrometheusTextWriter w, string name, string help, double value, params (string, string)[] labels)
    {
        w.Family(name, "counter", help);
        w.Sample(name, value, labels);
    }

    private static void PerKey(PrometheusTextWriter w, string name, string type, string help, string label,
        IEnumerable<KeyValuePair<string, ServiceCounters>> rows, Func<ServiceCounters, double> value)
    {
        w.Family(name, type, help);
        foreach (var (key, c) in rows) w.Sample(name, value(c), (label, key));
    }
}
