using System.Text.Json.Nodes;
using LoraServe.Core.Tensors;
using LoraServe.Models.Config;
using LoraServe.Models.Creation;
using LoraServe.Models.Safetensors;
using LoraServe.Models.Tests.Safetensors;

namespace LoraServe.Models.Tests.Creation;

public sealed class RandomModelWriterTests : IDisposable
{
    private readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void SmolLM2_preset_config_matches_the_published_model()
    {
        // Values from HuggingFaceTB/SmolLM2-135M config.json; only the config is written (weights would be 270 MB).
        RandomModelWriter.WriteConfig(_dir.Path, ModelShape.Preset("smollm2-135m"), DType.BF16);
        var c = ModelConfigLoader.Load(_dir.Path);
        Assert.Equal(ModelArchitecture.Llama, c.Architecture);
        Assert.Equal((576, 30, 9, 3, 64, 1536, 49152), (c.HiddenSize, c.NumLayers, c.NumHeads, c.NumKvHeads, c.HeadDim, c.IntermediateSize, c.VocabSize));
        Assert.True(c.TieWordEmbeddings);
        Assert.Equal(100000.0, c.RopeTheta);
        Assert.Equal(1e-5f, c.RmsNormEps);
        Assert.Equal(8192, c.MaxPositionEmbeddings);
        Assert.Equal("bfloat16", c.TorchDtype);
        Assert.Equal(0, c.BosTokenId);
        Assert.Equal([0], c.EosTokenIds);
    }

    [Fact]
    public void SmolLM2_preset_has_the_published_parameter_count()
    {
        // SmolLM2-135M: 134,515,008 parameters (tied embedding counted once).
        long parameters = 0;
        foreach (var spec in RandomModelWriter.TensorLayout(ModelShape.SmolLM2_135M()))
            parameters += spec.Shape.Aggregate(1L, (a, b) => a * b);
        Assert.Equal(134_515_008L, parameters);
    }

    [Fact]
    public void Config_json_is_a_real_hugging_face_config()
    {
        var shape = ModelShape.Tiny(300).WithTokens(300, bosTokenId: 1, eosTokenIds: [2, 3]);
        RandomModelWriter.Write(_dir.Path, shape, seed: 1, DType.F16);
        var config = JsonNode.Parse(File.ReadAllText(_dir.File("config.json")))!.AsObject();
        Assert.Equal("LlamaForCausalLM", config["architectures"]![0]!.GetValue<string>());
        Assert.Equal("llama", config["model_type"]!.GetValue<string>());
        Assert.Equal("float16", config["torch_dtype"]!.GetValue<string>());
        Assert.Equal("silu", config["hidden_act"]!.GetValue<string>());
        Assert.Equal(1, config["bos_token_id"]!.GetValue<int>());
        Assert.Equal("[2,3]", config["eos_token_id"]!.ToJsonString());
        var keys = config.Select(kv => kv.Key).ToArray();
        Assert.Equal(keys.Order(StringComparer.Ordinal).ToArray(), keys);

        var generation = JsonNode.Parse(File.ReadAllText(_dir.File("generation_config.json")))!.AsObject();
        Assert.Equal(1, generation["bos_token_id"]!.GetValue<int>());
        Assert.Equal("[2,3]", generation["eos_token_id"]!.ToJsonString());
    }

    [Theory]
    [InlineData("qwen2", "Qwen2ForCausalLM")]
    [InlineData("mistral", "MistralForCausalLM")]
    public void Family_variants_write_their_own_architecture(string modelType, string architecture)
    {
        var tiny = ModelShape.Tiny(50);
        RandomModelWriter.Write(_dir.Path, modelType == "qwen2" ? tiny.AsQwen2() : tiny.AsMistral(), seed: 1, DType.F32);
        var config = JsonNode.Parse(File.ReadAllText(_dir.File("config.json")))!.AsObject();
        Assert.Equal(modelType, config["model_type"]!.GetValue<string>());
        Assert.Equal(architecture, config["architectures"]![0]!.GetValue<string>());
    }

    [Fact]
    public void Same_seed_writes_identical_files_and_another_seed_differs()
    {
        var shape = ModelShape.Tiny(64);
        using var again = new TestDirectory();
        using var other = new TestDirectory();
        RandomModelWriter.Write(_dir.Path, shape, seed: 42, DType.BF16);
        RandomModelWriter.Write(again.Path, shape, seed: 42, DType.BF16);
        RandomModelWriter.Write(other.Path, shape, seed: 43, DType.BF16);
        byte[] a = File.ReadAllBytes(_dir.File("model.safetensors"));
        Assert.Equal(a, File.ReadAllBytes(again.File("model.safetensors")));
        Assert.NotEqual(a, File.ReadAllBytes(other.File("model.safetensors")));
    }

    [Fact]
    public void Weights_look_like_a_freshly_initialised_model()
    {
        RandomModelWriter.Write(_dir.Path, ModelShape.Tiny(1000), seed: 9, DType.F32);
        using var store = TensorStore.Open(_dir.Path);

        // 64,000 samples of N(0, 0.02): mean within ~5 standard errors of 0, std within 2%.
        float[] embedding = store.ReadFloats("model.embed_tokens.weight");
        double mean = embedding.Average(v => (double)v);
        double std = Math.Sqrt(embedding.Average(v => (v - mean) * (v - mean)));
        Assert.InRange(mean, -0.0005, 0.0005);
        Assert.InRange(std, 0.0196, 0.0204);

        float[] norm = store.ReadVector("model.layers.0.input_layernorm.weight");
        Assert.All(norm, v => Assert.InRange(v, 0.85f, 1.15f));
        Assert.Contains(norm, v => v != 1f);
    }

    [Fact]
    public void Shard_index_lists_every_tensor_and_the_total_size()
    {
        var shape = ModelShape.Tiny(80);
        RandomModelWriter.Write(_dir.Path, shape, seed: 1, DType.BF16, shards: 3);
        var index = JsonNode.Parse(File.ReadAllText(_dir.File(TensorStore.IndexFileName)))!.AsObject();
        var map = index["weight_map"]!.AsObject();
        var layout = RandomModelWriter.TensorLayout(shape);
        Assert.Equal(layout.Select(t => t.Name).Order(StringComparer.Ordinal), map.Select(kv => kv.Key));
        Assert.Equal(3, map.Select(kv => kv.Value!.GetValue<string>()).Distinct().Count());
        Assert.Contains(map, kv => kv.Value!.GetValue<string>() == "model-00003-of-00003.safetensors");

        long expectedBytes = layout.Sum(t => t.Shape.Aggregate(2L, (a, b) => a * b));
        Assert.Equal(expectedBytes, index["metadata"]!["total_size"]!.GetValue<long>());
        Assert.False(File.Exists(_dir.File("model.safetensors")));
    }

    [Fact]
    public void Rewriting_unsharded_over_a_sharded_directory_removes_the_old_shards()
    {
        var shape = ModelShape.Tiny(80);
        RandomModelWriter.Write(_dir.Path, shape, seed: 1, DType.BF16, shards: 2);
        RandomModelWriter.Write(_dir.Path, shape, seed: 2, DType.BF16, shards: 1);
        Assert.Equal(["model.safetensors"], Directory.GetFiles(_dir.Path, "model*").Select(Path.GetFileName));
    }

    [Fact]
    public void Impossible_shard_counts_are_rejected()
    {
        var shape = ModelShape.Tiny(80);
        Assert.Throws<ArgumentOutOfRangeException>(() => RandomModelWriter.Write(_dir.Path, shape, 1, DType.F32, shards: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => RandomModelWriter.Write(_dir.Path, shape, 1, DType.F32, shards: 1000));
    }
}
