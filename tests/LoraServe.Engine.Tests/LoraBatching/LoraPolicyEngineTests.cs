using System.Threading.Channels;
using LoraServe.Models.Llama;
using LoraServe.Engine.LoraBatching;
using LoraServe.Engine.Requests;
using LoraServe.Engine.Scheduling;
using LoraServe.Engine.Tests.Support;
using LoraServe.Lora.Adapters;
using LoraServe.Lora.Execution;

namespace LoraServe.Engine.Tests.LoraBatching;

/// <summary>The LoRA policies driving the real engine on a tiny F32 model.</summary>
public class LoraPolicyEngineTests
{
    private static EngineOptions Options(string lora) => new()
    {
        NumKvBlocks = 256, BlockSize = 4, KvWatermark = 0, Policy = FairnessPolicies.Vtc, LoraPolicy = lora,
        Scheduler = new SchedulerOptions { MaxNumSeqs = 6, MaxNumBatchedTokens = 32 },
        // Merging pays a lot here, so dlora does merge (a calibrated tiny model says little either way).
        LoraCosts = new LoraCostModel(0.010, 0.080, 4, 0.001),
    };

    private static unsafe byte[] Snapshot(LoraServe.Models.Llama.LlamaModel model) =>
        [.. model.Weights.Layers.SelectMany(l => LinearKinds.All.Select(l.Matrix))
            .SelectMany(w => new ReadOnlySpan<byte>((void*)w.Data, (int)w.ByteCount).ToArray())];

    /// <summary>
    /// The same skewed workload (most requests on one hot adapter, some on others and on the base
    /// model, over two tenants) under unmerged, merged and dlora: every request's greedy output
    /// equals that request generated alone, unmerged, on its own cache; merged policies really
    /// merged; the weights are bitwise the base weights once the engine is disposed.
    /// </summary>
    [Fact]
    public void Greedy_outputs_are_identical_under_all_three_policies()
    {
        var (weights, model) = TestModels.Create();
        using var _ = weights;
        LoraAdapter[] adapters = [TestModels.RandomAdapter("hot", 4, 1), TestModels.RandomAdapter("cold", 8, 2)];
        var registry = TestModels.Registry(adapters);
        var pristine = Snapshot(model);
        var rng = new Random(9);
        var script = Enumerable.Range(0, 14).Select(i =>
        {
            string? adapter = (i % 7) switch { 3 => "cold", 5 => null, _ => "hot" };
            return (Prompt: TestModels.Prompt(1 + rng.Next(20), 300 + i), MaxTokens: 1 + rng.Next(10), Adapter: adapter, Tenant: i % 2 == 0 ? "x" : "y");
        }).ToArray();
        var expected = script.Select(s => TestModels.GreedyAlone(model, s.Prompt, s.MaxTokens, adapters.FirstOrDefault(a => a.Name == s.Adapter))).ToArray();

        foreach (var policy in LoraBatchingPolicies.Names)
        {
            EngineStatistics stats;
            var readers = new List<ChannelReader<TokenEvent>>();
            using (var core = new EngineCore(model, Options(policy)))
            {
                foreach (var s in script)
                {
                    var request = new Request { Tenant = s.Tenant, PromptTokens = s.Prompt, Adapter = s.Adapter, Options = new RequestOptions { MaxTokens = s.MaxTokens, IgnoreEos = true } };
                    int maxOut = core.Validate(request);
                    var channel = Channel.CreateUnbounded<TokenEvent>();
                    core.Add(request, maxOut, channel.Writer, null, s.Adapter is null ? null : registry.Acquire(s.Adapter));
                    readers.Add(channel.Reader);
                    if (readers.Count % 3 == 0) core.Step(); // arrivals interleave with steps
                }
                int steps = 0;
                while (core.HasWork && steps++ < 10_000) core.Step();
                stats = core.Snapshot();
                Assert.Equal(core.Blocks.TotalBlocks, core.Blocks.FreeBlocks);
            }
            for (int i = 0; i < script.Length; i++)
                Assert.True(expected[i].SequenceEqual(TestModels.Drain(readers[i]).Where(e => e.HasToken).Select(e => e.TokenId)), $"{policy}: request {i} ({script[i].Adapter ?? "base"}) differs from its run alone");
            Assert.Equal(policy, stats.LoraPolicy);
            if (policy == LoraBatchingPolicies.Unmerged) Assert.Equal(0, stats.MergedSteps);
            else Assert.True(stats.MergedSteps > 0 && stats.LoraMerges > 0, $"{policy}: {stats.MergedSteps} merged steps, {stats.LoraMerges} merges");
            Assert.Equal(pristine, Snapshot(model));
        }
    }

    [Fact]
    public void Start_up_calibration_measures_a_usable_cost_model_and_leaves_the_weights_untouched()
    {
        var (weights, model) = TestModels.Create();
        using var _ = weights;
        var pristine = Snapshot(model);
        var costs = LoraCostCalibration.Measure(model, new LoraCostCalibration.Settings { Batch = 4, Adapters = 2, Rank = 4, Reps = 3 });
        Assert.Equal(pristine, Snapshot(model));
        Assert.True(costs.BaseSeconds(1) > 0 && costs.BaseSeconds(4) >= costs.BaseSeconds(1));
        Assert.InRange(costs.ReferenceRatio, 0.05, 1);
        var profile = AdapterProfile.Of(TestModels.RandomAdapter("p", 4, 1));
        LoraCandidate[] rows = [new("p", 1, profile), new("p", 1, profile)];
        Assert.True(costs.StepSeconds(LoraExecutionMode.Unmerged, rows, [0, 1]) > costs.StepSeconds(LoraExecutionMode.Merged, rows, [0, 1]), "the LoRA part must cost something");
        Assert.True(costs.SwitchSeconds(profile) > 0);
    }

    [Fact]
    public void An_unknown_lora_policy_is_refused_by_name()
    {
        var e = Assert.Throws<ArgumentException>(() => new EngineOptions { LoraPolicy = "peft" }.Validate());
        Assert.Contains("unknown LoRA policy 'peft'; expected one of: unmerged, merged, dlora", e.Message);
    }
}
