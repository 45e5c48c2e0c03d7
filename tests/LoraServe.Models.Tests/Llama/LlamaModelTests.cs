using LoraServe.Core.Kernels;
using LoraServe.Core.Kv;
using LoraServe.Core.Tensors;
using LoraServe.Models.Config;
using LoraServe.Models.Llama;
using LoraServe.Testing;

namespace LoraServe.Models.Tests.Llama;

public class LlamaModelTests
{
    private static readonly int[] Prompt = [5, 17, 3, 96, 42, 42, 0, 11, 64, 8, 29, 71, 2];

    public static TheoryData<string> Variants => ["llama-gqa-tied", "llama-untied", "qwen2-bias", "llama3-rope-scaling", "mistral-sliding-window", "llama-mha-bf16", "llama-f16"];

    private static (ModelConfig Config, DType DType) Variant(string name) => name switch
    {
        "llama-gqa-tied" => (InMemoryModel.TinyConfig(), DType.F32),
        "llama-untied" => (InMemoryModel.TinyConfig(tied: false), DType.F32),
        "qwen2-bias" => (InMemoryModel.TinyConfig(ModelArchitecture.Qwen2, qkvBias: true), DType.F32),
        // Small original context so that all three llama3 wavelength bands occur with head_dim 8.
        "llama3-rope-scaling" => (InMemoryModel.TinyConfig(scaling: new Llama3RopeScaling(8, 1, 4, 64)) with { RopeTheta = 500000 }, DType.F32),
        "mistral-sliding-window" => (InMemoryModel.TinyConfig(ModelArchitecture.Mistral, slidingWindow: 4), DType.F32),
        "llama-mha-bf16" => (InMemoryModel.TinyConfig(kvHeads: 6), DType.BF16),
        "llama-f16" => (InMemoryModel.TinyConfig(), DType.F16),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(Variants))]
    public void Forward_matches_float64_reference_at_every_position(string variant)
    {
        var (config, dtype) = Variant(variant);
        using var m = new InMemoryModel(config, seed: 1, dtype);
        var model = new LlamaModel(m.Weights);
        using var cache = model.CreateKvCache(numBlocks: 8, blockSize: 4);
        var rows = Enumerable.Range(0, Prompt.Length).ToArray();
        var batch = new ForwardBatch(Prompt, [new AttentionSequence(0, Prompt.Length, 0, [3, 0, 6, 1])], rows);
        var logits = new float[rows.Length * config.VocabSize];
        model.Forward(batch, cache, logits);

        var expected = ReferenceForward.Logits(m, Prompt);
        TensorAssert.Close(expected, logits, 1e-4, variant);
    }

    /// <summary>The KV cache takes the model's dtype when that is BF16 (vLLM's kv_cache_dtype="auto"), F32 otherwise.</summary>
    [Theory]
    [InlineData(DType.F32, DType.F32)]
    [InlineData(DType.F16, DType.F32)]
    [InlineData(DType.BF16, DType.BF16)]
    public void Kv_cache_dtype_follows_the_weights(DType weights, DType kv)
    {
        using var m = new InMemoryModel(InMemoryModel.TinyConfig(), seed: 1, weights);
        var model = new LlamaModel(m.Weights);
        using var cache = model.CreateKvCache(numBlocks: 3, blockSize: 4);
        Assert.Equal(kv, model.KvCacheDType);
        Assert.Equal(kv, cache.DType);
        var c = model.Config;
        Assert.Equal(2L * c.NumLayers * 3 * 4 * c.NumKvHeads * c.HeadDim * (kv == DType.BF16 ? 2 : 4), cache.Bytes);
    }

    [Fact]
    public void Mixed_prefill_and_decode_batch_equals_each_sequence_run_alone()
    {
        var config = InMemoryModel.TinyConfig(ModelArchitecture.Qwen2, qkvBias: true);
        using var m = new InMemoryModel(config, seed: 2);
        var model = new LlamaModel(m.Weights);
        int[][] seqs = [[1, 2, 3, 4, 5, 6, 7], [9, 8, 7], [50, 60, 70, 80, 90, 10, 20, 30, 40], [33]];
        // Expected: every sequence alone, whole, in its own cache.
        var alone = seqs.Select(s => LastLogitsAlone(model, s)).ToArray();

        // Batched: sequences 0 and 1 prefilled all but their last token in a first step; then one
        // step mixes their decode tokens with the full prefills of sequences 2 and 3.
        using var cache = model.CreateKvCache(numBlocks: 32, blockSize: 2);
        int[][] tables = [[0, 5, 9, 2], [7, 1], [3, 4, 6, 8, 10], [11]];
        var first = new ForwardBatch([.. seqs[0][..^1], .. seqs[1][..^1]],
            [new AttentionSequence(0, 6, 0, tables[0]), new AttentionSequence(6, 2, 0, tables[1])], [5, 7]);
        model.Forward(first, cache, new float[2 * config.VocabSize]);
        var mixed = ForwardBatch.LastTokenLogits([seqs[0][^1], seqs[1][^1], .. seqs[2], .. seqs[3]],
            [new AttentionSequence(0, 1, 6, tables[0]), new AttentionSequence(1, 1, 2, tables[1]), new AttentionSequence(2, 9, 0, tables[2]), new AttentionSequence(11, 1, 0, tables[3])]);
        var logits = new float[4 * config.VocabSize];
        model.Forward(mixed, cache, logits);

        for (int s = 0; s < seqs.Length; s++)
            TensorAssert.Close(alone[s], logits.AsSpan(s * config.VocabSize, config.VocabSize).ToArray(), 1e-5, $"sequence {s}");
    }

    [Fact]
    public void Paged_cache_with_scattered_blocks_equals_contiguous_cache_and_chunked_prefill()
    {
        var config = InMemoryModel.TinyConfig();
        using var m = new InMemoryModel(config, seed: 3);
        var model = new LlamaModel(m.Weights);
        int[] tokens = [4, 8, 15, 16, 23, 42, 7, 7, 1, 90, 3];

        // Contiguous: one block large enough for everything, one forward.
        using var contiguousCache = model.CreateKvCache(numBlocks: 1, blockSize: 16);
        var contiguous = new float[config.VocabSize];
        model.Forward(ForwardBatch.LastTokenLogits(tokens, [new AttentionSequence(0, tokens.Length, 0, [0])]), contiguousCache, contiguous);

        // Paged: blocks of 3 positions scattered over the pool, prefill in chunks of 4, 5, then 2 decode steps.
        using var paged = model.CreateKvCache(numBlocks: 9, blockSize: 3);
        int[] table = [8, 2, 5, 0];
        var logits = new float[config.VocabSize];
        int pos = 0;
        foreach (int chunk in new[] { 4, 5, 1, 1 })
        {
            model.Forward(ForwardBatch.LastTokenLogits(tokens[pos..(pos + chunk)], [new AttentionSequence(0, chunk, pos, table)]), paged, logits);
            pos += chunk;
        }
        TensorAssert.Close(contiguous, logits, 1e-5, "paged vs contiguous");
    }

    [Fact]
    public void Forward_rejects_token_ids_outside_the_vocabulary_and_short_block_tables()
    {
        var config = InMemoryModel.TinyConfig();
        using var m = new InMemoryModel(config, seed: 4);
        var model = new LlamaModel(m.Weights);
        using var cache = model.CreateKvCache(numBlocks: 4, blockSize: 4);
        var logits = new float[config.VocabSize];
        var bad = Assert.Throws<ArgumentOutOfRangeException>(() =>
            model.Forward(ForwardBatch.LastTokenLogits([1, config.VocabSize], [new AttentionSequence(0, 2, 0, [0])]), cache, logits));
        Assert.Contains($"token id {config.VocabSize}", bad.Message);
        var shortTable = Assert.Throws<ArgumentException>(() =>
            model.Forward(ForwardBatch.LastTokenLogits([1, 2, 3, 4, 5], [new AttentionSequence(0, 5, 0, [0])]), cache, logits));
        Assert.Contains("needs 2 KV blocks", shortTable.Message);
    }

    /// <summary>
    /// A profile charges every phase that ran, never more than the call's wall time, and does not
    /// change the logits; without a profile set nothing is charged.
    /// </summary>
    [Fact]
    public void Profile_times_every_phase_of_the_forward_without_changing_it()
    {
        var config = InMemoryModel.TinyConfig();
        using var m = new InMemoryModel(config, seed: 5);
        var model = new LlamaModel(m.Weights);
        var expected = LastLogitsAlone(model, Prompt);

        var profile = new ForwardProfile();
        model.Profile = profile;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var logits = LastLogitsAlone(model, Prompt);
        var wall = System.Diagnostics.Stopwatch.GetElapsedTime(started);
        model.Profile = null;

        Assert.Equal(expected, logits);
        foreach (var phase in Enum.GetValues<ForwardPhase>())
            Assert.True(profile[phase] > TimeSpan.Zero, $"{phase} was not charged");
        Assert.True(profile.Total <= wall, $"phases {profile.Total} exceed the call's {wall}");

        profile.Reset();
        Assert.Equal(TimeSpan.Zero, profile.Total);
        LastLogitsAlone(model, Prompt); // not set: nothing is charged
        Assert.Equal(TimeSpan.Zero, profile.Total);
    }

    private static float[] LastLogitsAlone(LlamaModel model, int[] tokens)
    {
        using PagedKvCache cache = model.CreateKvCache(numBlocks: 1, blockSize: 32);
        var logits = new float[model.Config.VocabSize];
        model.Forward(ForwardBatch.LastTokenLogits(tokens, [new AttentionSequence(0, tokens.Length, 0, [0])]), cache, logits);
        return logits;
    }
}
