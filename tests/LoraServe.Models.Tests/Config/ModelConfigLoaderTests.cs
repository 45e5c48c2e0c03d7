using System.Text.Json.Nodes;
using LoraServe.Models.Config;
using LoraServe.Models.Tests.Safetensors;

namespace LoraServe.Models.Tests.Config;

public sealed class ModelConfigLoaderTests : IDisposable
{
    private readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string ConfigPath => _dir.File("config.json");

    private ModelConfig Load(string configJson, string? generationJson = null)
    {
        File.WriteAllText(ConfigPath, configJson);
        if (generationJson is not null) File.WriteAllText(_dir.File("generation_config.json"), generationJson);
        return ModelConfigLoader.Load(_dir.Path);
    }

    private ModelFormatException LoadFails(string configJson, string field)
    {
        var e = Assert.Throws<ModelFormatException>(() => Load(configJson));
        Assert.Contains(ConfigPath, e.Message);
        Assert.Contains(field, e.Message);
        return e;
    }

    /// <summary>A minimal llama config with one field replaced or removed (value null = remove).</summary>
    private static string Llama(params (string Field, JsonNode? Value)[] changes)
    {
        var o = new JsonObject
        {
            ["model_type"] = "llama",
            ["hidden_size"] = 64,
            ["intermediate_size"] = 160,
            ["num_hidden_layers"] = 2,
            ["num_attention_heads"] = 4,
            ["vocab_size"] = 100,
        };
        foreach (var (field, value) in changes)
        {
            if (value is null) o.Remove(field);
            else o[field] = value;
        }
        return o.ToJsonString();
    }

    // HuggingFaceTB/SmolLM2-135M config.json as published (fields irrelevant to the forward pass trimmed).
    private const string SmolLM2Config = """
        {
          "architectures": ["LlamaForCausalLM"],
          "attention_bias": false,
          "attention_dropout": 0.0,
          "bos_token_id": 0,
          "eos_token_id": 0,
          "hidden_act": "silu",
          "hidden_size": 576,
          "initializer_range": 0.041666666666666664,
          "intermediate_size": 1536,
          "is_llama_config": true,
          "max_position_embeddings": 8192,
          "model_type": "llama",
          "num_attention_heads": 9,
          "num_hidden_layers": 30,
          "num_key_value_heads": 3,
          "pretraining_tp": 1,
          "rms_norm_eps": 1e-05,
          "rope_interleaved": false,
          "rope_scaling": null,
          "rope_theta": 100000,
          "tie_word_embeddings": true,
          "torch_dtype": "bfloat16",
          "transformers_version": "4.40.1",
          "use_cache": true,
          "vocab_size": 49152
        }
        """;

    [Fact]
    public void SmolLM2_config_parses_every_field()
    {
        var c = Load(SmolLM2Config);
        Assert.Equal(ModelArchitecture.Llama, c.Architecture);
        Assert.Equal(576, c.HiddenSize);
        Assert.Equal(1536, c.IntermediateSize);
        Assert.Equal(30, c.NumLayers);
        Assert.Equal(9, c.NumHeads);
        Assert.Equal(3, c.NumKvHeads);
        Assert.Equal(64, c.HeadDim);
        Assert.Equal(3, c.KvGroups);
        Assert.Equal(49152, c.VocabSize);
        Assert.Equal(8192, c.MaxPositionEmbeddings);
        Assert.Equal(100000.0, c.RopeTheta);
        Assert.Null(c.RopeScaling);
        Assert.Equal(1e-5f, c.RmsNormEps);
        Assert.True(c.TieWordEmbeddings);
        Assert.False(c.QkvBias || c.OutputBias || c.MlpBias);
        Assert.Equal(0, c.SlidingWindow);
        Assert.Equal(0, c.BosTokenId);
        Assert.Equal([0], c.EosTokenIds);
        Assert.Equal("bfloat16", c.TorchDtype);
    }

    [Fact]
    public void Absent_optional_fields_take_the_transformers_defaults()
    {
        var c = Load(Llama());
        Assert.Equal(16, c.HeadDim);              // hidden / heads
        Assert.Equal(4, c.NumKvHeads);            // = heads (multi-head attention)
        Assert.Equal(10000.0, c.RopeTheta);
        Assert.Equal(1e-6f, c.RmsNormEps);        // LlamaConfig
        Assert.Equal(2048, c.MaxPositionEmbeddings);
        Assert.False(c.TieWordEmbeddings);
        Assert.Null(c.BosTokenId);
        Assert.Empty(c.EosTokenIds);
        Assert.Null(c.TorchDtype);
    }

    [Fact]
    public void Llama_accepts_an_explicit_head_dim_that_differs_from_hidden_over_heads()
    {
        var c = Load(Llama(("head_dim", 32)));
        Assert.Equal(32, c.HeadDim);
    }

    [Fact]
    public void Llama_attention_bias_covers_qkv_and_o_and_mlp_bias_covers_the_mlp()
    {
        var c = Load(Llama(("attention_bias", true), ("mlp_bias", true)));
        Assert.True(c.QkvBias);
        Assert.True(c.OutputBias);
        Assert.True(c.MlpBias);
    }

    [Fact]
    public void Qwen2_always_has_qkv_bias_but_no_output_or_mlp_bias()
    {
        var c = Load(Llama(("model_type", "qwen2"), ("use_sliding_window", false), ("sliding_window", 4096), ("max_window_layers", 21)));
        Assert.Equal(ModelArchitecture.Qwen2, c.Architecture);
        Assert.True(c.QkvBias);
        Assert.False(c.OutputBias);
        Assert.False(c.MlpBias);
        Assert.Equal(0, c.SlidingWindow);
        Assert.Equal(32768, c.MaxPositionEmbeddings); // Qwen2Config default
    }

    [Fact]
    public void Qwen2_sliding_window_in_every_layer_is_used_and_a_per_layer_mix_is_refused()
    {
        Assert.Equal(512, Load(Llama(("model_type", "qwen2"), ("use_sliding_window", true), ("sliding_window", 512), ("max_window_layers", 0))).SlidingWindow);
        Assert.Equal(0, Load(Llama(("model_type", "qwen2"), ("use_sliding_window", true), ("sliding_window", 512), ("max_window_layers", 2))).SlidingWindow);
        LoadFails(Llama(("model_type", "qwen2"), ("use_sliding_window", true), ("sliding_window", 512), ("max_window_layers", 1)), "max_window_layers");
    }

    [Fact]
    public void Qwen2_requires_head_dim_to_equal_hidden_over_heads()
    {
        LoadFails(Llama(("model_type", "qwen2"), ("head_dim", 32)), "head_dim");
    }

    [Fact]
    public void Mistral_sliding_window_is_read_and_null_means_full_attention()
    {
        Assert.Equal(4096, Load(Llama(("model_type", "mistral"), ("sliding_window", 4096))).SlidingWindow);
        var c = Load("""{"model_type":"mistral","hidden_size":64,"intermediate_size":160,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"vocab_size":100,"sliding_window":null}""");
        Assert.Equal(ModelArchitecture.Mistral, c.Architecture);
        Assert.Equal(0, c.SlidingWindow);
        Assert.Equal(2, c.NumKvHeads);
        Assert.False(c.QkvBias);
    }

    [Theory]
    [InlineData("rope_type")]
    [InlineData("type")]
    public void Llama3_rope_scaling_is_parsed_under_either_key(string key)
    {
        var scaling = new JsonObject { [key] = "llama3", ["factor"] = 8.0, ["low_freq_factor"] = 1.0, ["high_freq_factor"] = 4.0, ["original_max_position_embeddings"] = 8192 };
        var c = Load(Llama(("rope_scaling", scaling), ("rope_theta", 500000.0)));
        Assert.NotNull(c.RopeScaling);
        Assert.Equal(8.0, c.RopeScaling.Factor);
        Assert.Equal(1.0, c.RopeScaling.LowFreqFactor);
        Assert.Equal(4.0, c.RopeScaling.HighFreqFactor);
        Assert.Equal(8192, c.RopeScaling.OriginalMaxPositionEmbeddings);
        Assert.Equal(500000.0, c.RopeTheta);
    }

    [Fact]
    public void Default_rope_type_means_no_scaling()
    {
        Assert.Null(Load(Llama(("rope_scaling", new JsonObject { ["rope_type"] = "default" }))).RopeScaling);
    }

    [Fact]
    public void Transformers_5_rope_parameters_are_read()
    {
        var c = Load(Llama(("rope_parameters", new JsonObject { ["rope_type"] = "default", ["rope_theta"] = 250000.0 })));
        Assert.Equal(250000.0, c.RopeTheta);
        Assert.Null(c.RopeScaling);
    }

    [Theory]
    [InlineData("yarn")]
    [InlineData("linear")]
    [InlineData("dynamic")]
    public void Unsupported_rope_type_is_named(string type)
    {
        var e = LoadFails(Llama(("rope_scaling", new JsonObject { ["type"] = type, ["factor"] = 2.0 })), "rope_scaling");
        Assert.Contains($"'{type}'", e.Message);
    }

    [Fact]
    public void Llama3_rope_scaling_without_a_required_field_is_rejected()
    {
        var scaling = new JsonObject { ["rope_type"] = "llama3", ["factor"] = 8.0, ["low_freq_factor"] = 1.0, ["high_freq_factor"] = 4.0 };
        LoadFails(Llama(("rope_scaling", scaling)), "rope_scaling.original_max_position_embeddings");
    }

    [Fact]
    public void Eos_may_be_an_int_or_a_list_and_generation_config_overrides_config()
    {
        Assert.Equal([2], Load(Llama(("eos_token_id", 2))).EosTokenIds);
        Assert.Equal([10, 11, 12], Load(Llama(("eos_token_id", new JsonArray(10, 11, 12)))).EosTokenIds);

        var c = Load(Llama(("bos_token_id", 1), ("eos_token_id", 2)), """{"bos_token_id": 5, "eos_token_id": [6, 7], "do_sample": true}""");
        Assert.Equal(5, c.BosTokenId);
        Assert.Equal([6, 7], c.EosTokenIds);
    }

    [Fact]
    public void Generation_config_without_token_ids_keeps_those_of_config()
    {
        var c = Load(Llama(("bos_token_id", 1), ("eos_token_id", 2)), """{"temperature": 0.6}""");
        Assert.Equal(1, c.BosTokenId);
        Assert.Equal([2], c.EosTokenIds);
    }

    [Fact]
    public void Missing_config_json_is_reported_with_its_path()
    {
        var e = Assert.Throws<ModelFormatException>(() => ModelConfigLoader.Load(_dir.Path));
        Assert.Contains(ConfigPath, e.Message);
    }

    [Fact]
    public void Missing_model_directory_is_reported_with_its_path()
    {
        string missing = _dir.File("absent");
        var e = Assert.Throws<ModelFormatException>(() => ModelConfigLoader.Load(missing));
        Assert.Contains(missing, e.Message);
    }

    [Fact]
    public void Unknown_model_type_is_named_and_the_supported_ones_listed()
    {
        var e = LoadFails(Llama(("model_type", "gpt2")), "model_type");
        Assert.Contains("'gpt2'", e.Message);
        Assert.Contains("llama, mistral, qwen2", e.Message);
    }

    [Theory]
    [InlineData("model_type")]
    [InlineData("hidden_size")]
    [InlineData("intermediate_size")]
    [InlineData("num_hidden_layers")]
    [InlineData("num_attention_heads")]
    [InlineData("vocab_size")]
    public void Missing_required_field_is_named(string field)
    {
        var e = LoadFails(Llama((field, null)), $"'{field}'");
        Assert.Contains("missing", e.Message);
    }

    [Theory]
    [InlineData("hidden_size", 0)]
    [InlineData("num_hidden_layers", -2)]
    [InlineData("num_key_value_heads", 0)]
    [InlineData("head_dim", -16)]
    [InlineData("max_position_embeddings", 0)]
    public void Non_positive_integer_is_rejected(string field, int value)
    {
        LoadFails(Llama((field, value)), $"'{field}'");
    }

    [Theory]
    [InlineData("hidden_size", "\"64\"")]
    [InlineData("vocab_size", "1.5")]
    [InlineData("tie_word_embeddings", "\"yes\"")]
    [InlineData("eos_token_id", "\"</s>\"")]
    [InlineData("rope_theta", "-1")]
    [InlineData("rms_norm_eps", "0")]
    [InlineData("rope_scaling", "[1]")]
    public void Field_of_the_wrong_type_or_range_is_named(string field, string rawValue)
    {
        LoadFails(Llama((field, JsonNode.Parse(rawValue))), $"'{field}'");
    }

    [Fact]
    public void Heads_not_divisible_by_kv_heads_is_rejected()
    {
        LoadFails(Llama(("num_key_value_heads", 3)), "num_key_value_heads");
    }

    [Fact]
    public void Hidden_not_divisible_by_heads_without_explicit_head_dim_is_rejected()
    {
        LoadFails(Llama(("hidden_size", 66)), "hidden_size");
    }

    [Fact]
    public void Activation_other_than_silu_is_refused()
    {
        var e = LoadFails(Llama(("hidden_act", "gelu")), "hidden_act");
        Assert.Contains("'gelu'", e.Message);
    }

    [Fact]
    public void Token_id_outside_the_vocabulary_is_rejected()
    {
        LoadFails(Llama(("eos_token_id", 100)), "eos_token_id");
    }

    [Theory]
    [InlineData("{\"model_type\": \"llama\",")]
    [InlineData("[]")]
    public void Corrupt_config_json_is_reported_with_its_path(string json)
    {
        var e = Assert.Throws<ModelFormatException>(() => Load(json));
        Assert.Contains(ConfigPath, e.Message);
    }

    [Fact]
    public void Unpaired_surrogate_escape_is_a_format_error_not_a_crash()
    {
        var e = Assert.Throws<ModelFormatException>(() => Load(Llama().Replace("\"llama\"", "\"ll\\uD800ama\"")));
        Assert.Contains(ConfigPath, e.Message);
    }

    [Fact]
    public void Invalid_utf8_is_reported_with_its_path()
    {
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes(Llama());
        bytes[Array.IndexOf(bytes, (byte)'l')] = 0xFF;
        File.WriteAllBytes(ConfigPath, bytes);
        var e = Assert.Throws<ModelFormatException>(() => ModelConfigLoader.Load(_dir.Path));
        Assert.Contains(ConfigPath, e.Message);
        Assert.Contains("UTF-8", e.Message);
    }

    [Fact]
    public void Corrupt_generation_config_is_reported_with_its_path()
    {
        var e = Assert.Throws<ModelFormatException>(() => Load(Llama(), "{oops"));
        Assert.Contains(_dir.File("generation_config.json"), e.Message);
    }
}
