using LoraServe.Core.Kernels;
using LoraServe.Lora.Adapters;
using LoraServe.Lora.Execution;
using LoraServe.Models.Config;
using LoraServe.Models.Llama;
using LoraServe.Testing;

namespace LoraServe.Lora.Tests.Execution;

public class UnmergedLoraTests
{
    private static readonly LinearKind[] QV = [LinearKind.Q, LinearKind.V];
    private static readonly int[] Prompt = [3, 14, 15, 92, 65, 35, 89, 79, 32];

    [Theory]
    [InlineData(8, 16.0, false)]
    [InlineData(4, 8.0, true)]
    [InlineData(3, 5.0, false)]
    public void Adapter_output_matches_float64_reference(int rank, double alpha, bool rsLora)
    {
        var config = InMemoryModel.TinyConfig(ModelArchitecture.Qwen2, qkvBias: true);
        using var m = new InMemoryModel(config, seed: 11);
        var model = new LlamaModel(m.Weights);
        var (adapter, reference) = RandomAdapters.Create(config, "a", rank, LinearKinds.All, alpha, rsLora, seed: 5);
        var delta = new SegmentedLoraDelta();
        delta.Configure(Enumerable.Repeat<LoraAdapter?>(adapter, Prompt.Length).ToArray());
        using var cache = model.CreateKvCache(4, 4);
        var rows = Enumerable.Range(0, Prompt.Length).ToArray();
        var logits = new float[rows.Length * config.VocabSize];
        model.Forward(new ForwardBatch(Prompt, [new AttentionSequence(0, Prompt.Length, 0, [2, 0, 3])], rows) { Delta = delta }, cache, logits);

        TensorAssert.Close(ReferenceForward.Logits(m, Prompt, reference), logits, 1e-4, $"rank {rank} alpha {alpha} rslora {rsLora}");
        // …and the adapter really changed the output (so the comparison above is not vacuous).
        var baseLogits = ReferenceForward.Logits(m, Prompt);
        Assert.True(Math.Abs(baseLogits[0, 0] - logits[0]) > 1e-3);
    }

    [Fact]
    public void Heterogeneous_batch_of_many_adapters_and_base_rows_equals_each_request_alone()
    {
        var config = InMemoryModel.TinyConfig();
        using var m = new InMemoryModel(config, seed: 12);
        var model = new LlamaModel(m.Weights);
        // Ten adapters: ranks 1..16, different target sets, plain and rsLoRA scaling.
        LinearKind[][] targets = [QV, LinearKinds.All, [LinearKind.O], [LinearKind.Gate, LinearKind.Down], [LinearKind.K], LinearKinds.All, QV, [LinearKind.Up], [LinearKind.Q, LinearKind.K, LinearKind.V, LinearKind.O], QV];
        int[] ranks = [1, 16, 2, 8, 3, 4, 12, 5, 7, 6];
        var adapters = new LoraAdapter[10];
        var references = new Dictionary<(int, LinearKind), ReferenceLoraModule>[10];
        for (int i = 0; i < 10; i++)
            (adapters[i], references[i]) = RandomAdapters.Create(config, $"adapter-{i}", ranks[i], targets[i], alpha: 2 * ranks[i], rsLora: i % 3 == 0, seed: 100 + i);

        // Twelve requests: two base-model rows, adapter 3 used twice, interleaved so segments are not contiguous.
        LoraAdapter?[] requestAdapter = [adapters[0], null, adapters[1], adapters[2], adapters[3], adapters[4], adapters[3], adapters[5], null, adapters[6], adapters[7], adapters[8]];
        var prompts = requestAdapter.Select((_, i) => Enumerable.Range(0, 1 + (i % 4) * 2).Select(t => (t * 7 + i * 13) % config.VocabSize).ToArray()).ToArray();

        var tokens = new List<int>();
        var rowAdapters = new List<LoraAdapter?>();
        var seqs = new AttentionSequence[prompts.Length];
        for (int i = 0; i < prompts.Length; i++)
        {
            seqs[i] = new AttentionSequence(tokens.Count, prompts[i].Length, 0, [i]);
            tokens.AddRange(prompts[i]);
            rowAdapters.AddRange(Enumerable.Repeat(requestAdapter[i], prompts[i].Length));
        }
        var delta = new SegmentedLoraDelta();
        delta.Configure(rowAdapters.ToArray());
        Assert.Equal(9, delta.DistinctAdapters);
        using var cache = model.CreateKvCache(prompts.Length, 8);
        var logits = new float[prompts.Length * config.VocabSize];
        model.Forward(ForwardBatch.LastTokenLogits([.. tokens], seqs), cache, logits);
        var batchedBase = logits.ToArray();
        model.Forward(new ForwardBatch([.. tokens], seqs, seqs.Select(s => s.TokenOffset + s.TokenCount - 1).ToArray()) { Delta = delta }, cache, logits);

        for (int i = 0; i < prompts.Length; i++)
        {
            var alone = RunAlone(model, prompts[i], requestAdapter[i]);
            TensorAssert.Close(alone, logits.AsSpan(i * config.VocabSize, config.VocabSize).ToArray(), 1e-5, $"request {i}");
            int a = Array.IndexOf(adapters, requestAdapter[i]);
            var expected = ReferenceForward.Logits(m, prompts[i], a >= 0 ? references[a] : null);
            var last = new double[config.VocabSize];
            for (int v = 0; v < last.Length; v++) last[v] = expected[prompts[i].Length - 1, v];
            TensorAssert.Close(last, logits.AsSpan(i * config.VocabSize, config.VocabSize).ToArray(), 1e-4, $"request {i} vs reference");
        }
        // Base rows equal the batch run without any adapter.
        TensorAssert.Close(batchedBase.AsSpan(config.VocabSize, config.VocabSize).ToArray(), logits.AsSpan(config.VocabSize, config.VocabSize).ToArray(), 0, "base row");
    }

    internal static float[] RunAlone(LlamaModel model, int[] prompt, LoraAdapter? adapter)
    {
        using var cache = model.CreateKvCache(1, 16);
        var logits = new float[model.Config.VocabSize];
        var batch = ForwardBatch.LastTokenLogits(prompt, [new AttentionSequence(0, prompt.Length, 0, [0])]);
        if (adapter is not null)
        {
            var delta = new SegmentedLoraDelta();
            delta.Configure(Enumerable.Repeat<LoraAdapter?>(adapter, prompt.Length).ToArray());
            batch = new ForwardBatch(batch.TokenIds, batch.Sequences, batch.LogitRows) { Delta = delta };
        }
        model.Forward(batch, cache, logits);
        return logits;
    }

    [Fact]
    public void A_step_with_more_distinct_adapters_than_max_loras_is_refused()
    {
        var config = InMemoryModel.TinyConfig(layers: 1);
        var a = RandomAdapters.Create(config, "a", 2, QV, 4, false, 1).Adapter;
        var b = RandomAdapters.Create(config, "b", 2, QV, 4, false, 2).Adapter;
        var c = RandomAdapters.Create(config, "c", 2, QV, 4, false, 3).Adapter;
        var delta = new SegmentedLoraDelta(maxAdapters: 2);
        delta.Configure([a, null, b, a, b]);
        Assert.Equal(2, delta.DistinctAdapters);
        var e = Assert.Throws<ArgumentException>(() => delta.Configure([a, b, c]));
        Assert.Contains("--max-loras 2", e.Message);
        Assert.Contains("'c'", e.Message);
    }
}
