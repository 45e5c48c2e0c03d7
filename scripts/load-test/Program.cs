using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

// Bounded load test for `loraserve serve` (docs/server.md): concurrent streaming clients over several
// tenants and models for a fixed time, on 127.0.0.1 only. Checks: no 5xx, every stream that was read to
// its end finishes with data: [DONE], KV blocks all free afterwards, server memory stable.
// Usage: loraserve-load-test URL SECONDS CLIENTS SERVER_PID KEY1,KEY2,… MODEL1,MODEL2,…
if (args.Length != 6)
{
    Console.Error.WriteLine("usage: loraserve-load-test URL SECONDS CLIENTS SERVER_PID KEYS MODELS");
    return 2;
}
var baseUri = new Uri(args[0]);
if (!baseUri.IsLoopback)
{
    Console.Error.WriteLine("refusing a non-loopback target: load tests only run against this machine");
    return 2;
}
double seconds = double.Parse(args[1], CultureInfo.InvariantCulture);
int clients = int.Parse(args[2], CultureInfo.InvariantCulture);
int serverPid = int.Parse(args[3], CultureInfo.InvariantCulture);
string[] keys = args[4].Split(',');
string[] models = args[5].Split(',');

using var http = new HttpClient { BaseAddress = baseUri, Timeout = TimeSpan.FromSeconds(120) };
var stopAt = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
var stats = new LoadStats();
var rss = new List<(double T, long Kb)>();
var clock = Stopwatch.StartNew();

var sampler = Task.Run(async () =>
{
    while (Stopwatch.GetTimestamp() < stopAt)
    {
        lock (rss) rss.Add((clock.Elapsed.TotalSeconds, ReadRssKb(serverPid)));
        await Task.Delay(1000);
    }
});
var workers = Enumerable.Range(0, clients).Select(i => Task.Run(() => Worker(i))).ToArray();
await Task.WhenAll(workers);
await sampler;

// The engine publishes statistics when it goes idle; give it a moment, then read /metrics.
double kvUsed = double.NaN, running = double.NaN, waiting = double.NaN;
for (int i = 0; i < 100; i++)
{
    var metrics = await http.GetStringAsync("metrics");
    kvUsed = Sample(metrics, "loraserve:kv_blocks_used");
    running = Sample(metrics, "vllm:num_requests_running");
    waiting = Sample(metrics, "vllm:num_requests_waiting");
    if (kvUsed == 0 && running == 0 && waiting == 0) break;
    await Task.Delay(100);
}
long rssEnd = ReadRssKb(serverPid);
var warm = rss.Where(s => s.T >= Math.Min(10, seconds / 3)).ToList();
long rssWarmStart = warm.Count > 0 ? warm[0].Kb : rssEnd;
long rssMax = rss.Count > 0 ? rss.Max(s => s.Kb) : rssEnd;

Console.WriteLine($"duration_s={clock.Elapsed.TotalSeconds:F1} clients={clients} tenants={keys.Length} models={string.Join(',', models)}");
Console.WriteLine($"requests={stats.Requests} completed_streams={stats.Completed} client_aborts={stats.Aborted} status_2xx={stats.Ok} status_4xx={stats.Client4xx} status_429={stats.Throttled} status_5xx={stats.Server5xx} transport_errors={stats.TransportErrors}");
Console.WriteLine($"streams_without_done={stats.MissingDone} bad_events={stats.BadEvents} text_chunks={stats.Tokens} text_chunks_per_s={stats.Tokens / clock.Elapsed.TotalSeconds:F1}");
Console.WriteLine($"ttft_p50_ms={Percentile(stats.Ttft, 0.5):F0} ttft_p99_ms={Percentile(stats.Ttft, 0.99):F0}");
Console.WriteLine($"after: kv_blocks_used={kvUsed} running={running} waiting={waiting}");
Console.WriteLine($"server_rss_mb: after_warmup={rssWarmStart / 1024.0:F1} max={rssMax / 1024.0:F1} end={rssEnd / 1024.0:F1}");

var failures = new List<string>();
if (stats.Server5xx > 0) failures.Add($"{stats.Server5xx} responses were 5xx");
if (stats.TransportErrors > 0) failures.Add($"{stats.TransportErrors} requests failed at the transport");
if (stats.MissingDone > 0) failures.Add($"{stats.MissingDone} streams did not end with [DONE]");
if (stats.BadEvents > 0) failures.Add($"{stats.BadEvents} events were not valid JSON chunks");
if (stats.Completed == 0) failures.Add("no stream completed");
if (kvUsed != 0 || running != 0 || waiting != 0) failures.Add($"engine not idle afterwards (kv {kvUsed}, running {running}, waiting {waiting})");
// Stable: after warm-up the resident set grows by less than a quarter (a leak of one KV pool or adapter per request would not).
if (rssEnd > rssWarmStart * 1.25 + 16 * 1024) failures.Add($"server memory grew from {rssWarmStart / 1024} MB to {rssEnd / 1024} MB after warm-up");
foreach (var f in failures) Console.WriteLine("FAIL: " + f);
Console.WriteLine(failures.Count == 0 ? "load test: PASS" : "load test: FAIL");
return failures.Count == 0 ? 0 : 1;

async Task Worker(int id)
{
    var rng = new Random(id);
    int n = 0;
    while (Stopwatch.GetTimestamp() < stopAt)
    {
        n++;
        string key = keys[(id + n) % keys.Length];
        string model = models[rng.Next(models.Length)];
        bool chat = rng.Next(2) == 0;
        int maxTokens = rng.Next(8, 96);
        // One request in ten is abandoned after a few events: the server must cancel it and free its KV blocks.
        bool abandon = rng.Next(10) == 0;
        string body = chat
            ? JsonSerializer.Serialize(new Dictionary<string, object> { ["model"] = model, ["messages"] = new[] { new Dictionary<string, string> { ["role"] = "user", ["content"] = $"Request {id}.{n}: tell me something." } }, ["max_tokens"] = maxTokens, ["stream"] = true, ["stream_options"] = new Dictionary<string, bool> { ["include_usage"] = true } })
            : JsonSerializer.Serialize(new Dictionary<string, object> { ["model"] = model, ["prompt"] = $"Request {id}.{n}: once upon a time", ["max_tokens"] = maxTokens, ["stream"] = true, ["temperature"] = 0.8 });
        using var request = new HttpRequestMessage(HttpMethod.Post, chat ? "v1/chat/completions" : "v1/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        Interlocked.Increment(ref stats.Requests);
        long start = Stopwatch.GetTimestamp();
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            int status = (int)response.StatusCode;
            if (status >= 500) { Interlocked.Increment(ref stats.Server5xx); continue; }
            if (status == 429) { Interlocked.Increment(ref stats.Throttled); await Task.Delay(50); continue; }
            if (status >= 400) { Interlocked.Increment(ref stats.Client4xx); continue; }
            Interlocked.Increment(ref stats.Ok);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            bool done = false, first = true;
            int events = 0;
            while (await reader.ReadLineAsync() is { } line)
            {
                if (line.Length == 0) continue;
                if (!line.StartsWith("data: ", StringComparison.Ordinal)) { Interlocked.Increment(ref stats.BadEvents); continue; }
                string data = line[6..];
                if (data == "[DONE]") { done = true; continue; }
                if (done) { Interlocked.Increment(ref stats.BadEvents); continue; }
                using var doc = JsonDocument.Parse(data);
                if (doc.RootElement.TryGetProperty("error", out _)) { Interlocked.Increment(ref stats.Server5xx); continue; }
                var choices = doc.RootElement.GetProperty("choices");
                if (choices.GetArrayLength() > 0)
                {
                    var text = chat ? choices[0].GetProperty("delta").TryGetProperty("content", out var c) ? c.GetString() : null : choices[0].GetProperty("text").GetString();
                    if (!string.IsNullOrEmpty(text))
                    {
                        Interlocked.Increment(ref stats.Tokens);
                        if (first) { first = false; lock (stats.Ttft) stats.Ttft.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds); }
                    }
                }
                if (abandon && ++events == 3) break;
            }
            if (abandon && !done) { Interlocked.Increment(ref stats.Aborted); continue; }
            if (!done) Interlocked.Increment(ref stats.MissingDone);
            else Interlocked.Increment(ref stats.Completed);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException or JsonException)
        {
            if (e is JsonException) Interlocked.Increment(ref stats.BadEvents);
            else Interlocked.Increment(ref stats.TransportErrors);
        }
    }
}

static long ReadRssKb(int pid)
{
    try
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal)) return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
    }
    catch (IOException) { }
    return 0;
}

static double Sample(string metrics, string name)
{
    double sum = 0;
    bool found = false;
    foreach (var line in metrics.Split('\n'))
        if (line.StartsWith(name + "{", StringComparison.Ordinal) || line.StartsWith(name + " ", StringComparison.Ordinal))
        {
            sum += double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
            found = true;
        }
    return found ? sum : double.NaN;
}

static double Percentile(List<double> values, double q)
{
    lock (values)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToList();
        return sorted[Math.Min(sorted.Count - 1, (int)(q * sorted.Count))];
    }
}

/// <summary>Counters shared by the workers (Interlocked fields).</summary>
internal sealed class LoadStats
{
    public long Requests, Ok, Completed, Aborted, Client4xx, Throttled, Server5xx, TransportErrors, MissingDone, BadEvents, Tokens;
    public readonly List<double> Ttft = [];
}
