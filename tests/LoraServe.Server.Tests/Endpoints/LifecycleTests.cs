using System.Net;
using System.Text.Json;
using LoraServe.Server.Tests.Support;

namespace LoraServe.Server.Tests.Endpoints;

/// <summary>Disconnects, back-pressure (429), graceful shutdown (503, streams ending cleanly), and what /metrics reports.</summary>
[Collection(ServerCollection.Name)]
public sealed class LifecycleTests(ServerFixture fx)
{
    private static string LongStream(string model = "alpha") =>
        $$"""{"model": "{{model}}", "prompt": "A long story:", "max_tokens": 1900, "ignore_eos": true, "temperature": 0, "stream": true}""";

    [Fact]
    public async Task A_client_that_disconnects_mid_stream_frees_its_KV_blocks()
    {
        await ServerFixture.WaitForIdleAsync(fx.Server);
        var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = ServerFixture.Json(LongStream()) };
        var response = await fx.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var stream = await response.Content.ReadAsStreamAsync();
        var buffer = new byte[256];
        int read = 0;
        while (read < 200) read += await stream.ReadAsync(buffer.AsMemory(0, buffer.Length));
        // Statistics are published after each step, possibly just after the token we read: poll briefly.
        var until = DateTime.UtcNow.AddSeconds(5);
        while (fx.Server.Serving.Engine.Statistics.KvBlocksUsed == 0 && DateTime.UtcNow < until) await Task.Delay(5);
        Assert.True(fx.Server.Serving.Engine.Statistics.KvBlocksUsed > 0, "the request should hold KV blocks while it streams");
        // Closing the response closes the connection: the server sees RequestAborted and cancels the request.
        response.Dispose();
        request.Dispose();
        await ServerFixture.WaitForIdleAsync(fx.Server);
        var s = fx.Server.Serving.Engine.Statistics;
        Assert.Equal(0, s.KvBlocksUsed);
        Assert.True(s.GeneratedTokens < 10_000);
        using var health = await fx.Http.GetAsync("health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Fact]
    public async Task A_full_waiting_queue_answers_429()
    {
        await using var server = await LoraServer.StartAsync(fx.Options() with { MaxWaiting = 1, MaxNumSeqs = 1 });
        using var client = fx.Client(null, server);
        // The first request occupies the only running slot; the second waits; the third finds the queue full.
        var first = await client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = ServerFixture.Json(LongStream()) }, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var second = client.PostAsync("v1/completions", ServerFixture.Json("""{"model": "tiny-base", "prompt": "hi", "max_tokens": 2}"""));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (server.Serving.Admission.Waiting < 1 && DateTime.UtcNow < deadline) await Task.Delay(5);
        using var third = await client.PostAsync("v1/completions", ServerFixture.Json("""{"model": "tiny-base", "prompt": "hi", "max_tokens": 2}"""));
        Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode);
        var error = (await ServerFixture.ReadJsonAsync(third)).GetProperty("error");
        Assert.Equal(429, error.GetProperty("code").GetInt32());
        first.Dispose();
        using var secondResponse = await second;
        Assert.Equal(HttpStatusCode.OK, secondResponse.StatusCode);
        await ServerFixture.WaitForIdleAsync(server);
    }

    [Fact]
    public async Task Shutdown_refuses_new_requests_with_503_and_ends_running_streams_with_DONE()
    {
        var server = await LoraServer.StartAsync(fx.Options() with { DrainTimeout = TimeSpan.FromMilliseconds(300) });
        try
        {
            using var client = fx.Client(null, server);
            var running = await client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = ServerFixture.Json(LongStream()) }, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, running.StatusCode);
            var body = running.Content.ReadAsStringAsync();
            var stopping = server.StopAsync();
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (!server.Serving.Admission.ShuttingDown && DateTime.UtcNow < deadline) await Task.Delay(2);
            try
            {
                using var refused = await client.PostAsync("v1/completions", ServerFixture.Json("""{"model": "tiny-base", "prompt": "hi", "max_tokens": 2}"""));
                Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
                Assert.Equal(503, (await ServerFixture.ReadJsonAsync(refused)).GetProperty("error").GetProperty("code").GetInt32());
            }
            catch (HttpRequestException)
            {
                // Kestrel already closed its listener: refused at the socket, which is also a refusal.
            }
            string text = await body;
            Assert.EndsWith("data: [DONE]\n\n", text);
            var last = text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).SkipLast(1).Last()["data: ".Length..];
            string? finish = JsonDocument.Parse(last).RootElement.GetProperty("choices")[0].GetProperty("finish_reason").GetString();
            Assert.Contains(finish, new[] { "abort", "length" });
            await stopping;
            Assert.Equal(0, server.Serving.Engine.Statistics.KvBlocksUsed);
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task Metrics_report_vllm_names_and_per_tenant_and_per_adapter_counters()
    {
        using (var r = await fx.Http.PostAsync("v1/completions", ServerFixture.Json("""{"model": "beta", "prompt": "hello", "max_tokens": 3, "temperature": 0}""")))
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        await ServerFixture.WaitForIdleAsync(fx.Server);
        using var response = await fx.Client(null).GetAsync("metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType!.MediaType);
        string text = await response.Content.ReadAsStringAsync();
        var samples = text.Split('\n').Where(l => l.Length > 0 && l[0] != '#').ToDictionary(l => l[..l.LastIndexOf(' ')], l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(0, samples["vllm:num_requests_running{model_name=\"tiny-base\"}"]);
        Assert.Equal(0, samples["vllm:num_requests_waiting{model_name=\"tiny-base\"}"]);
        Assert.Equal(0, samples["loraserve:kv_cache_usage_perc{model_name=\"tiny-base\"}"]);
        Assert.Equal(samples["loraserve:kv_cache_usage_perc{model_name=\"tiny-base\"}"], samples["vllm:kv_cache_usage_perc{model_name=\"tiny-base\"}"]);
        var stats = fx.Server.Serving.Engine.Statistics;
        Assert.Equal(stats.PromptTokens, samples["vllm:prompt_tokens_total{model_name=\"tiny-base\"}"]);
        Assert.Equal(stats.GeneratedTokens, samples["vllm:generation_tokens_total{model_name=\"tiny-base\"}"]);
        Assert.True(samples["vllm:generation_tokens_total{model_name=\"tiny-base\"}"] >= 1);
        Assert.True(samples["vllm:time_to_first_token_seconds_count{model_name=\"tiny-base\"}"] >= 1);
        Assert.Equal(samples["vllm:time_to_first_token_seconds_count{model_name=\"tiny-base\"}"], samples["vllm:time_to_first_token_seconds_bucket{model_name=\"tiny-base\",le=\"+Inf\"}"]);
        Assert.Equal(stats.Tenants["acme"].GeneratedTokens, samples["loraserve:tenant_generation_tokens_total{tenant=\"acme\"}"]);
        Assert.True(samples["loraserve:adapter_generation_tokens_total{adapter=\"beta\"}"] >= 1);
        Assert.Contains(samples.Keys, k => k.StartsWith("loraserve:tenant_requests_total{tenant=\"acme\"", StringComparison.Ordinal));
        Assert.Contains(samples.Keys, k => k.StartsWith("loraserve:adapter_requests_total{adapter=\"beta\"", StringComparison.Ordinal));
        Assert.Contains("# TYPE vllm:e2e_request_latency_seconds histogram", text);
    }
}
