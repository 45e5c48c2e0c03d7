using System.Threading.Channels;
using LoraServe.Core.Kernels;
using LoraServe.Engine.Requests;
using LoraServe.Engine.Scheduling;
using LoraServe.Engine.Tests.Support;
using LoraServe.Lora.Adapters;
using LoraServe.Lora.Registry;
using LoraServe.Models.Generation;
using FinishReason = LoraServe.Engine.Requests.FinishReason;

namespace LoraServe.Engine.Tests;

/// <summary>The engine stepped synchronously on a tiny random model: outputs, preemption, leaks, finish reasons.</summary>
public sealed class EngineCoreTests
{
    private sealed record Submitted(Sequence Sequence, ChannelReader<TokenEvent> Events, int[] Prompt, LoraAdapter? Adapter, int MaxTokens);

    private static EngineOptions Options(int blocks = 256, int blockSize = 4, int maxSeqs = 6, int budget = 24, string policy = FairnessPolicies.Fcfs) => new()
    {
        NumKvBlocks = blocks, BlockSize = blockSize, KvWatermark = 0.0, Policy = policy,
        Scheduler = new SchedulerOptions { MaxNumSeqs = maxSeqs, MaxNumBatchedTokens = budget },
    };

    private static Submitted Add(EngineCore core, int[] prompt, int maxTokens, AdapterRegistry? registry = null, string? adapter = null, string tenant = "t", RequestOptions? options = null)
    {
        var request = new Request
        {
            Tenant = tenant, PromptTokens = prompt, Adapter = adapter,
            Options = options ?? new RequestOptions { MaxTokens = maxTokens, IgnoreEos = true },
        };
        int maxOut = core.Validate(request);
        var lease = adapter is null ? null : registry!.Acquire(adapter);
        var channel = Channel.CreateUnbounded<TokenEvent>();
        var seq = core.Add(request, maxOut, channel.Writer, null, lease);
        return new Submitted(seq, channel.Reader, prompt, lease?.Adapter, maxTokens);
    }

    private static int Run(EngineCore core, int maxSteps = 100_000)
    {
        int steps = 0;
        while (core.HasWork && steps++ < maxSteps) core.Step();
        Assert.False(core.HasWork, "the engine did not finish its work");
        return steps;
    }

    private static int[] Tokens(Submitted s) => TestModels.Drain(s.Events).Where(e => e.HasToken).Select(e => e.TokenId).ToArray();

    [Fact]
    public void Batched_greedy_outputs_equal_single_sequence_generator_per_request()
    {
        var (weights, model) = TestModels.Create();
        using var _ = weights;
        using var core = new EngineCore(model, Options());
        var rng = new Random(3);
        var subs = Enumerable.Range(0, 10).Select(i => Add(core, TestModels.Prompt(1 + rng.Next(40), 100 + i), 1 + rng.Next(12))).ToList();
        Run(core);
        var generator = new SingleSequenceGenerator(model);
        foreach (var s in subs)
        {
            var expected = generator.Generate(s.Prompt, new GenerationOptions { MaxTokens = s.MaxTokens, IgnoreEos = true }).Select(t => t.TokenId).ToArray();
            Assert.Equal(expected, Tokens(s));
            Assert.Equal(FinishReason.Length, s.Sequence.Finish);
        }
        Assert.Equal(core.Blocks.TotalBlocks, core.Blocks.FreeBlocks);
    }

    [Fact]
    public void Batched_greedy_outputs_with_mixed_adapters_equal_each_request_run_alone()
    {
        var (weights, model) = TestModels.Create();
        using var _ = weights;
        LoraAdapter[] adapters = [TestModels.RandomAdapter("x", 4, 1), TestModels.RandomAdapter("y", 8, 2), TestModels.RandomAdapter("z", 2, 3)];
        var registry = TestModels.Registry(adapters);
        using var core = new EngineCore(model, Options());
        var rng = new Random(5);
        var subs = new List<Submitted>();
        for (int i = 0; i < 12; i++)
        {
            string? name = (i % 4) switch { 0 => null, 1 => "x", 2 => "y", _ => "z" };
            subs.Add(Add(core, TestModels.Prompt(1 + rng.Next(30), 200 + i), 1 + rng.Next(10), registry, name));
        }
        Run(core);
        bool adapterChangedSomething = false;
        foreach (var s in subs)
        {
            var expected = TestModels.GreedyAlone(model, s.Prompt, s.MaxTokens, s.Adapter);
            Assert.Equal(expected, Tokens(s));
            if (s.Adapter is not null) adapterChangedSomething |= !expected.SequenceEqual(TestModels.GreedyAlone(model, s.Prompt, s.MaxTokens, null));
        }
        Assert.True(adapterChangedSomething, "the adapters must change some output, or this test shows nothing");
    }

    [Fact]
    public void Greedy_outputs_are_identical_with_and_without_preemption()
    {
        var (weights, model) = TestModels.Create();
        using var _ = weights;
        int[] Run1(int blocks, out long preemptions)
        {
            using var core = new EngineCore(model, Options(blocks: blocks, maxSeqs: 8, budget: 64));
            var rng = new Random(11);
            var subs = Enumerable.Range(0, 8).Select(i => Add(core, TestModels.Prompt(4 + rng.Next(12), 300 + i), 8 + rng.Next(16))).ToList();
            Run(core);
            preemptions = core.Scheduler.TotalPreemptions;
            Assert.Equal(core.Blocks.TotalBlocks, core.Blocks.FreeBlocks);
            return subs.SelectMany(s => Tokens(s).Append(-1)).ToArray();
        }
        var roomy = Run1(512, out long none);
        var tight = Run1(10, out long some); // 40 token slots for 8 sequences of up to 40 tokens each
        Assert.Equal(0, none);
        Assert.True(some > 0, "the tiny pool must force preemptions");
        Assert.Equal(roomy, tight);
    }

    [Fact]
    public void Seeded_sampling_does_not_depend_on_what_else_is_in_the_batch()
    {
        var (weights, model) = TestModels.Create();
        using var _ = weights;
        var sampling = new RequestOptions { MaxTokens = 12, IgnoreEos = true, Sampling = new SamplingParams(Temperature: 1.0f, TopP: 0.9f, TopK: 20, Seed: 42) };
        var prompt = TestModels.Prompt(9, 1);
        int[] Alone()
        {
            using var core = new EngineCore(model, Options());
            var s = Add(core, prompt, 12, options: sampling);
            Run(core);
            return Tokens(s);
        }
        int[] Crowded()
        {
            using var core = new EngineCore(model, Options(blocks: 14));
            for (int i = 0; i < 5; i++) Add(core, TestModels.Prompt(7 + i, 50 + i), 10, options: sampling with { Sampling = sampling.Sampling with { Seed = (ulong)i } });
            var s = Add(core, prompt, 12, options: sampling);
            Run(core);
            return Tokens(s);
        }
        Assert.Equal(Alone(), Crowded());
    }

    [Fact]
    public void No_block_is_leaked_after_cancellations_preemptions_and_errors()
    {
        var (weights, model) = TestModels.Create();
        using var _ = weights;
        var adapter = TestModels.RandomAdapter("x", 4, 1);
        var registry = TestModels.Registry(adapter);
        int freed = 0;
        registry.Freed += _ => freed++;
        using var core = new EngineCore(model, Options(blocks: 16, maxSeqs: 6, budget: 32, policy: FairnessPolicies.Vtc));
        int step = 0;
        core.BeforeForward = s => { if (++step % 17 == 0) throw new InvalidOperationException("injected kernel failure"); };
        var rng = new Random(9);
        var subs = new List<Submitted>();
        for (int round = 0; round < 60; round++)
        {
            if (rng.NextDouble() < 0.6)
                subs.Add(Add(core, TestModels.Prompt(1 + rng.Next(20), round), 1 + rng.Next(24), registry, rng.Next(2) == 0 ? "x" : null, tenant: "t" + rng.Next(3)));
            if (rng.NextDouble() < 0.2 && subs.Count > 0) core.Cancel(subs[rng.Next(subs.Count)].Sequence.Id);
            core.Step();
        }
        Run(core);
        Assert.True(core.Scheduler.TotalPreemptions > 0, "the scenario must preempt");
        Assert.Contains(subs, s => s.Sequence.Finish == FinishReason.Error);
        Assert.Contains(subs, s => s.Sequence.Finish == FinishReason.Cancelled);
        Assert.Equal(core.Blocks.TotalBlocks, core.Blocks.FreeBlocks);
        Assert.Equal(0, core.LiveCount);
        foreach (var s in subs)
        {
            var events = TestModels.Drain(s.Events);
            Assert.Single(events, e => e.Finish != FinishReason.None);
            Assert.NotEqual(FinishReason.None, events[^1].Finish);
            Assert.True(s.Events.Completion.IsCompleted);
        }
        // Every lease was released: unregistering frees the adapter at once only if nothing pins it.
        registry.Unregister("x");
        Assert.Equal(1, freed);
    }

    [Fact]
    public void Steady_state_decoding_allocates_almost_nothing_per_token()
    {
        var (weights, model) = TestModels.Create();
        using var _ = weights;
        using var core = new EngineCore(model, Options(blocks: 1024, maxSeqs: 8, budget: 64));
        var subs = Enumerable.Range(0, 8).Select(i => Add(core, TestModels.Prompt(5, i), 400)).ToList();
        // A consumer reads as the engine writes, so each channel's ring segment is reused instead of growing.
        void StepAndConsume()
        {
            core.Step();
            foreach (var s in subs) while (s.Events.TryRead(out var ignored)) { }
        }
        for (int i = 0; i < 60; i++) StepAndConsume();
        long before = GC.GetAllocatedBytesForCurrentThread();
        const int steps = 200;
        for (int i = 0; i < steps; i++) StepAndConsume();
        long perToken = (GC.GetAllocatedBytesForCurrentThread() - before) / (steps * 8);
        // What remains is per step, not per token: ForwardBatch and its positions array (Models layer).
        // A per-token object would add ≥ 24 bytes per token.
        Assert.True(perToken < 64, $"{perToken} bytes allocated per generated token");
        Assert.All(subs, s => Assert.Equal(SequenceStatus.Running, s.Sequence.Status));
    }

    [Fact]
    public void End_of_sequence_token_ends_the_request_and_is_included()
    {
        var (weights, model) = TestModels.Create();
        using var _ = weights;
        var prompt = TestModels.Prompt(6, 77);
        var free = new SingleSequenceGenerator(model).Generate(prompt, new GenerationOptions { MaxTokens = 6, IgnoreEos = true }).Select(t => t.TokenId).ToArray();
        using var core = new EngineCore(model, Options() with { EosTokenIds = [free[3]] });
        var s = Add(core, prompt, 6, options: new RequestOptions { MaxTokens = 6 });
        Run(core);
        int stop = Array.IndexOf(free, free[3]);
        Assert.Equal(free.Take(stop + 1).ToArray(), Tokens(s));
        Assert.Equal(FinishReason.EndOfSequence, s.Sequence.Finish);
    }

    [Fact]
    public void Top_logprobs_are_sorted_normalised_and_lead_with_the_greedy_choice()
    {
        var (weights, model) = TestModels.Create();
        using var _ = weights;
        using var core = new EngineCore(model, Options());
        var s = Add(core, TestModels.Prompt(5, 1), 4, options: new RequestOptions { MaxTokens = 4, IgnoreEos = true, TopLogprobs = 5 });
        Run(core);
        foreach (var e in TestModels.Drain(s.Events))
        {
            var top = e.TopLogprobs!;
            Assert.Equal(5, top.Length);
            Assert.Equal(e.TokenId, top[0].TokenId);
            Assert.Equal(e.LogProb, top[0].LogProb, 5);
            for (int i = 1; i < top.Length; i++) Assert.True(top[i].LogProb <= top[i - 1].LogProb);
            Assert.True(top.Sum(t => Math.Exp(t.LogProb)) <= 1.0 + 1e-5);
        }
    }

    [Fact]
    public void Requests_that_can_never_fit_are_refused_at_submission()
    {
        var (weights, model) = TestModels.Create();
        using var _ = weights;
        using var core = new EngineCore(model, Options(blocks: 4, blockSize: 4));
        var request = new Request { Tenant = "t", PromptTokens = TestModels.Prompt(10, 1), Options = new RequestOptions { MaxTokens = 10 } };
        var e = Assert.Throws<ArgumentException>(() => core.Validate(request));
        Assert.Contains("pool has 4 blocks", e.Message);
        Assert.Throws<ArgumentException>(() => core.Validate(request with { PromptTokens = [1, 97] }));
        Assert.Throws<ArgumentException>(() => core.Validate(request with { PromptTokens = [] }));
    }
}
