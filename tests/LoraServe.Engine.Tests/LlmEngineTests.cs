using LoraServe.Engine.Requests;
using LoraServe.Engine.Scheduling;
using LoraServe.Engine.Tests.Support;
using LoraServe.Lora.Registry;
using LoraServe.Models.Generation;
using FinishReason = LoraServe.Engine.Requests.FinishReason;

namespace LoraServe.Engine.Tests;

/// <summary>The threaded engine: streaming, cancellation, stop/drain, submission errors, statistics.</summary>
public sealed class LlmEngineTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static EngineOptions Options(string policy = FairnessPolicies.Vtc) => new()
    {
        NumKvBlocks = 64, BlockSize = 4, Policy = policy,
        Scheduler = new SchedulerOptions { MaxNumSeqs = 4, MaxNumBatchedTokens = 32 },
    };

    private static Request Req(int seed, int maxTokens, string tenant = "t", string? adapter = null) => new()
    {
        Tenant = tenant, PromptTokens = TestModels.Prompt(3 + seed % 7, seed), Adapter = adapter,
        Options = new RequestOptions { MaxTokens = maxTokens, IgnoreEos = true },
    };

    [Fact]
    public async Task Generate_streams_every_token_then_one_final_event()
    {
        var (weights, model) = TestModels.Create();
        using var _ = weights;
        await using var engine = new LlmEngine(model, Options());
        var request = Req(1, 9);
        var events = new List<TokenEvent>();
        await foreach (var e in engine.Generate(request).WithCancellation(new CancellationTokenSource(Timeout).Token)) events.Add(e);
        var expected = new SingleSequenceGenerator(model).Generate(request.PromptTokens, new GenerationOptions { MaxTokens = 9, IgnoreEos = true }).Select(t => t.TokenId);
        Assert.Equal(expected, events.Select(e => e.TokenId));
        Assert.Equal(Enumerable.Range(0, 9), events.Select(e => e.Index));
        Assert.Equal(FinishReason.Length, events[^1].Finish);
        Assert.All(events.SkipLast(1), e => Assert.Equal(FinishReason.None, e.Finish));
    }

    [Fact]
    public async Task Cancelling_the_token_ends_the_request_and_frees_its_blocks()
    {
        var (weights, model) = TestModels.Create();
        using var _ = weights;
        await using var engine = new LlmEngine(model, Options() with { NumKvBlocks = 400 });
        using var cts = new CancellationTokenSource();
        // As in the abandoned-stream test below: from its fourth step the engine waits until the token
        // is cancelled, so a starved test thread cannot watch a tiny model finish all 1,500 tokens first.
        int steps = 0;
        engine.Core.BeforeForward = _ =>
        {
            if (++steps >= 4) cts.Token.WaitHandle.WaitOne(Timeout);
        };
        var events = new List<TokenEvent>();
        await foreach (var e in engine.Generate(Req(2, 1500), cts.Token))
        {
            events.Add(e);
            if (events.Count == 3) cts.Cancel();
        }
        Assert.Equal(FinishReason.Cancelled, events[^1].Finish);
        Assert.False(events[^1].HasToken);
        Assert.True(events.Count < 1500);
        await engine.StopAsync();
        Assert.Equal(engine.Core.Blocks.TotalBlocks, engine.Core.Blocks.FreeBlocks);
    }

    [Fact]
    public async Task Abandoning_the_stream_cancels_the_request()
    {
        var (weights, model) = TestModels.Create();
        using var _ = weights;
        await using var engine = new LlmEngine(model, Options() with { NumKvBlocks = 400 });
        // The engine may not outrun the reader: from the fourth step on it waits until the reader has
        // abandoned the stream (a loaded machine once starved the test thread while a tiny model generated
        // all 1,500 tokens). The cancellation then reaches the engine before that step's successor.
        using var abandoned = new ManualResetEventSlim();
        int steps = 0;
        engine.Core.BeforeForward = _ =>
        {
            if (++steps >= 4) abandoned.Wait(Timeout);
        };
        await foreach (var e in engine.Generate(Req(3, 1500)))
            if (e.Index == 2) break;
        abandoned.Set();
        await engine.StopAsync(drain: true).WaitAsync(Timeout); // drains only if the abandoned request was cancelled
        Assert.Equal(1, engine.Statistics.FinishedRequests);
        Assert.True(engine.Statistics.GeneratedTokens < 1500);
        Assert.Equal(engine.Core.Blocks.TotalBlocks, engine.Core.Blocks.FreeBlocks);
    }

    [Fact]
    public async Task Stop_with_drain_finishes_in_flight_requests_and_refuses_new_ones()
    {
        var (weights, model) = TestModels.Create();
        using var _ = weights;
        await using var engine = new LlmEngine(model, Options());
        var handles = Enumerable.Range(0, 6).Select(i => engine.Submit(Req(i, 12, "t" + i % 2))).ToList();
        await engine.StopAsync(drain: true).WaitAsync(Timeout);
        foreach (var h in handles)
        {
            var events = TestModels.Drain(h.Tokens);
            Assert.Equal(12, events.Count); // 12 tokens, the last one carrying the finish reason
            Assert.Equal(FinishReason.Length, events[^1].Finish);
        }
        Assert.Throws<InvalidOperationException>(() => engine.Submit(Req(9, 3)));
        var stats = engine.Statistics;
        Assert.Equal(6, stats.FinishedRequests);
        Assert.Equal(72, stats.GeneratedTokens);
        Assert.Equal(36, stats.Tenants["t0"].GeneratedTokens);
        Assert.Equal(0, stats.KvBlocksUsed);
        Assert.Equal(0, stats.IdleStepsWhileWaiting);
        Assert.Equal(stats.Tenants["t0"].VirtualCounter, stats.Tenants["t0"].PromptTokens + 2.0 * 36, 6);
    }

    [Fact]
    public async Task Stop_without_drain_cancels_in_flight_requests()
    {
        var (weights, model) = TestModels.Create();
        using var _ = weights;
        var engine = new LlmEngine(model, Options() with { NumKvBlocks = 800 });
        var handles = Enumerable.Range(0, 6).Select(i => engine.Submit(Req(i, 2000))).ToList();
        await handles[0].Tokens.ReadAsync();
        await engine.StopAsync(drain: false).WaitAsync(Timeout);
        foreach (var h in handles)
        {
            var events = TestModels.Drain(h.Tokens);
            Assert.Equal(FinishReason.Cancelled, events[^1].Finish);
        }
        Assert.Equal(engine.Core.Blocks.TotalBlocks, engine.Core.Blocks.FreeBlocks);
        await engine.DisposeAsync();
    }

    [Fact]
    public async Task Submission_errors_fail_the_caller_not_the_engine()
    {
        var (weights, model) = TestModels.Create();
        using var _ = weights;
        var registry = TestModels.Registry(TestModels.RandomAdapter("x", 4, 1));
        await using var engine = new LlmEngine(model, Options(), registry);
        Assert.Throws<AdapterNotFoundException>(() => engine.Submit(Req(1, 4, adapter: "nope")));
        Assert.Throws<ArgumentException>(() => engine.Submit(Req(1, 4) with { Options = new RequestOptions { MaxTokens = 0 } }));
        Assert.Throws<ArgumentException>(() => engine.Submit(Req(1, 4) with { Options = new RequestOptions { StopStrings = ["x"] } }));
        var h = engine.Submit(Req(1, 4, adapter: "x"));
        var last = (await h.Tokens.ReadAllAsync().ToListAsync())[^1];
        Assert.Equal(FinishReason.Length, last.Finish);
        Assert.True(h.FirstTokenTicks > 0 && h.FinishTicks >= h.FirstTokenTicks);
    }

    [Fact]
    public async Task Rate_limited_requests_end_as_rejected()
    {
        var (weights, model) = TestModels.Create();
        using var _ = weights;
        await using var engine = new LlmEngine(model, Options(FairnessPolicies.RateLimit) with { Fairness = new FairnessOptions { RequestsPerMinute = 2 } });
        var handles = Enumerable.Range(0, 3).Select(i => engine.Submit(Req(i, 2))).ToList();
        var reasons = new List<FinishReason>();
        foreach (var h in handles) reasons.Add((await h.Tokens.ReadAllAsync().ToListAsync())[^1].Finish);
        Assert.Equal([FinishReason.Length, FinishReason.Length, FinishReason.Rejected], reasons);
    }
}
