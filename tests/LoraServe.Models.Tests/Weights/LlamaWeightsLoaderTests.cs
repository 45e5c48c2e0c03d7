using System.Text.Json.Nodes;
using LoraServe.Core.Tensors;
using LoraServe.Models.Config;
using LoraServe.Models.Creation;
using LoraServe.Models.Safetensors;
using LoraServe.Models.Tests.Safetensors;
using LoraServe.Models.Weights;

namespace LoraServe.Models.Tests.Weights;

public sealed class LlamaWeightsLoaderTests : IDisposable
{
    private const int Vocab = 97;
    private readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string> Variants() => new() { "tiny", "qwen2", "mistral", "llama3-rope", "untied", "llama-bias" };

    private static ModelShape Variant(string name)
    {
        var tiny = ModelShape.Tiny(Vocab);
        return name switch
        {
            "tiny" => tiny,
            "qwen2" => tiny.AsQwen2(),
            "mistral" => tiny.AsMistral(slidingWindow: 32),
            "llama3-rope" => tiny.WithLlama3RopeScaling(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 512),
            "untied" => tiny.Untied(),
            "llama-bias" => tiny.WithLlamaBiases(attention: true, mlp: true),
            _ => throw new ArgumentException(name),
        };
    }

    private static void AssertShape(WeightMatrix m, int rows, int cols, string name)
    {
        Assert.Equal(name, m.Name);
        Assert.Equal((rows, cols), (m.Rows, m.Cols));
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Random_model_loads_with_the_shapes_of_its_config(string variant)
    {
        var shape = Variant(variant);
        RandomModelWriter.Write(_dir.Path, shape, seed: 1, DType.BF16);
        using var w = LlamaWeightsLoader.Load(_dir.Path);
        var c = w.Config;

        // Tiny: hidden 64, 4 heads × 16, 2 KV heads × 16, intermediate 160, 2 layers.
        AssertShape(w.Embedding, Vocab, 64, "model.embed_tokens.weight");
        Assert.Equal(2, w.Layers.Length);
        Assert.Equal(64, w.FinalNorm.Length);
        foreach (var (l, i) in w.Layers.Select((l, i) => (l, i)))
        {
            string p = $"model.layers.{i}.";
            Assert.Equal(64, l.InputNorm.Length);
            Assert.Equal(64, l.PostAttentionNorm.Length);
            AssertShape(l.Q, 64, 64, p + "self_attn.q_proj.weight");
            AssertShape(l.K, 32, 64, p + "self_attn.k_proj.weight");
            AssertShape(l.V, 32, 64, p + "self_attn.v_proj.weight");
            AssertShape(l.O, 64, 64, p + "self_attn.o_proj.weight");
            AssertShape(l.Gate, 160, 64, p + "mlp.gate_proj.weight");
            AssertShape(l.Up, 160, 64, p + "mlp.up_proj.weight");
            AssertShape(l.Down, 64, 160, p + "mlp.down_proj.weight");
            Assert.Equal(c.QkvBias ? 64 : null, l.QBias?.Length);
            Assert.Equal(c.QkvBias ? 32 : null, l.KBias?.Length);
            Assert.Equal(c.QkvBias ? 32 : null, l.VBias?.Length);
            Assert.Equal(c.OutputBias ? 64 : null, l.OBias?.Length);
            Assert.Equal(c.MlpBias ? 160 : null, l.GateBias?.Length);
            Assert.Equal(c.MlpBias ? 160 : null, l.UpBias?.Length);
            Assert.Equal(c.MlpBias ? 64 : null, l.DownBias?.Length);
        }
        Assert.Equal(shape.TieWordEmbeddings, ReferenceEquals(w.LmHead, w.Embedding));
        AssertShape(w.LmHead, Vocab, 64, shape.TieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight");
    }

    [Fact]
    public void Variants_set_the_config_flags_the_forward_pass_reads()
    {
        Assert.True(Load("qwen2").QkvBias);
        Assert.False(Load("qwen2").OutputBias);
        Assert.Equal(32, Load("mistral").SlidingWindow);
        Assert.Equal(new Llama3RopeScalingValues(8, 1, 4, 512), Values(Load("llama3-rope").RopeScaling!));
        Assert.False(Load("untied").TieWordEmbeddings);
        var bias = Load("llama-bias");
        Assert.True(bias.QkvBias && bias.OutputBias && bias.MlpBias);

        ModelConfig Load(string variant)
        {
            using var dir = new TestDirectory();
            RandomModelWriter.Write(dir.Path, Variant(variant), seed: 1, DType.F32);
            return ModelConfigLoader.Load(dir.Path);
        }
    }

    private sealed record Llama3RopeScalingValues(double Factor, double Low, double High, int Original);

    private static Llama3RopeScalingValues Values(LoraServe.Core.Kernels.Llama3RopeScaling r) => new(r.Factor, r.LowFreqFactor, r.HighFreqFactor, r.OriginalMaxPositionEmbeddings);

    [Theory]
    [InlineData(DType.BF16)]
    [InlineData(DType.F16)]
    [InlineData(DType.F32)]
    public void Weights_stay_in_their_stored_dtype_as_views_into_the_mapping(DType dtype)
    {
        RandomModelWriter.Write(_dir.Path, ModelShape.Tiny(Vocab), seed: 3, dtype);
        using var w = LlamaWeightsLoader.Load(_dir.Path, WeightPlacement.Mapped);
        var file = Assert.IsType<SafetensorsFile>(Assert.Single(w.Owners));
        Assert.Equal(dtype, w.Embedding.DType);
        Assert.Equal(dtype, w.Layers[1].Down.DType);
        Assert.Equal(file.GetDataPointer("model.layers.1.mlp.down_proj.weight"), w.Layers[1].Down.Data);
        Assert.Equal(file.GetDataPointer("model.embed_tokens.weight"), w.Embedding.Data);
    }

    [Fact]
    public void Loaded_values_are_the_written_values()
    {
        var shape = ModelShape.Tiny(Vocab);
        RandomModelWriter.Write(_dir.Path, shape, seed: 11, DType.F32);
        using var w = LlamaWeightsLoader.Load(_dir.Path);
        var specs = RandomModelWriter.TensorLayout(shape).ToDictionary(s => s.Name);

        var q = specs["model.layers.1.self_attn.q_proj.weight"];
        var expected = new float[64 * 64];
        RandomModelWriter.FillValues(11, q, 0, expected);
        for (int r = 0; r < 64; r++)
            for (int col = 0; col < 64; col++)
                Assert.Equal(expected[r * 64 + col], w.Layers[1].Q[r, col]);

        var norm = new float[64];
        RandomModelWriter.FillValues(11, specs["model.norm.weight"], 0, norm);
        Assert.Equal(norm, w.FinalNorm);
    }

    [Fact]
    public void Sharded_model_loads_the_same_weights_as_unsharded()
    {
        var shape = ModelShape.Tiny(Vocab).Untied();
        using var shardedDir = new TestDirectory();
        RandomModelWriter.Write(_dir.Path, shape, seed: 5, DType.BF16, shards: 1);
        RandomModelWriter.Write(shardedDir.Path, shape, seed: 5, DType.BF16, shards: 4);
        using var one = LlamaWeightsLoader.Load(_dir.Path, WeightPlacement.Resident);
        using var four = LlamaWeightsLoader.Load(shardedDir.Path, WeightPlacement.Mapped);
        Assert.Equal(4, four.Owners.Count);
        AssertSameMatrix(one.Embedding, four.Embedding);
        AssertSameMatrix(one.LmHead, four.LmHead);
        for (int i = 0; i < one.Layers.Length; i++)
        {
            AssertSameMatrix(one.Layers[i].Q, four.Layers[i].Q);
            AssertSameMatrix(one.Layers[i].Down, four.Layers[i].Down);
            Assert.Equal(one.Layers[i].InputNorm, four.Layers[i].InputNorm);
        }
        Assert.Equal(one.FinalNorm, four.FinalNorm);
    }

    private static void AssertSameMatrix(WeightMatrix a, WeightMatrix b)
    {
        Assert.Equal((a.Rows, a.Cols, a.DType), (b.Rows, b.Cols, b.DType));
        var ra = new float[a.Cols];
        var rb = new float[b.Cols];
        for (int r = 0; r < a.Rows; r++)
        {
            a.ReadRow(r, ra);
            b.ReadRow(r, rb);
            Assert.Equal(ra, rb);
        }
    }

    [Fact]
    public void Shape_mismatch_names_tensor_file_expected_and_actual()
    {
        RandomModelWriter.Write(_dir.Path, ModelShape.Tiny(Vocab), seed: 1, DType.BF16);
        EditConfig(c => c["intermediate_size"] = 128);
        var e = Assert.Throws<ModelFormatException>(() => LlamaWeightsLoader.Load(_dir.Path));
        Assert.Equal(
            $"{_dir.File("model.safetensors")}: tensor 'model.layers.0.mlp.gate_proj.weight' has shape [160, 64], expected [128, 64]",
            e.Message);
    }

    [Fact]
    public void Vector_shape_mismatch_is_reported()
    {
        var shape = ModelShape.Tiny(Vocab);
        var writer = new SafetensorsWriter();
        foreach (var spec in RandomModelWriter.TensorLayout(shape))
        {
            long[] dims = spec.Name == "model.norm.weight" ? [1, 64] : spec.Shape;
            writer.Add(spec.Name, DType.F32, dims, (start, d) => d.Fill(1f));
        }
        RandomModelWriter.WriteConfig(_dir.Path, shape, DType.F32);
        writer.Save(_dir.File("model.safetensors"));
        var e = Assert.Throws<ModelFormatException>(() => LlamaWeightsLoader.Load(_dir.Path));
        Assert.Contains("tensor 'model.norm.weight' has shape [1, 64], expected [64]", e.Message);
    }

    [Fact]
    public void Missing_tensor_is_named()
    {
        WriteModelWithout(ModelShape.Tiny(Vocab), "model.layers.1.self_attn.v_proj.weight");
        var e = Assert.Throws<ModelFormatException>(() => LlamaWeightsLoader.Load(_dir.Path));
        Assert.Contains("tensor 'model.layers.1.self_attn.v_proj.weight' not found", e.Message);
        Assert.Contains(_dir.Path, e.Message);
    }

    [Fact]
    public void Bias_required_by_the_config_but_absent_is_named()
    {
        WriteModelWithout(ModelShape.Tiny(Vocab).AsQwen2(), "model.layers.0.self_attn.k_proj.bias");
        var e = Assert.Throws<ModelFormatException>(() => LlamaWeightsLoader.Load(_dir.Path));
        Assert.Contains("tensor 'model.layers.0.self_attn.k_proj.bias'", e.Message);
    }

    [Fact]
    public void Untied_config_without_lm_head_falls_back_to_the_embedding()
    {
        WriteModelWithout(ModelShape.Tiny(Vocab).Untied(), "lm_head.weight");
        using var w = LlamaWeightsLoader.Load(_dir.Path);
        Assert.Same(w.Embedding, w.LmHead);
    }

    [Fact]
    public void Tensors_may_mix_dtypes()
    {
        var shape = ModelShape.Tiny(Vocab);
        var writer = new SafetensorsWriter(new Dictionary<string, string> { ["format"] = "pt" });
        int k = 0;
        foreach (var spec in RandomModelWriter.TensorLayout(shape))
        {
            var dtype = (k++ % 3) switch { 0 => DType.F32, 1 => DType.BF16, _ => DType.F16 };
            writer.Add(spec.Name, dtype, spec.Shape, (start, d) => RandomModelWriter.FillValues(2, spec, start, d));
        }
        RandomModelWriter.WriteConfig(_dir.Path, shape, DType.F32);
        writer.Save(_dir.File("model.safetensors"));

        using var w = LlamaWeightsLoader.Load(_dir.Path);
        var dtypes = w.Layers.SelectMany(l => new[] { l.Q, l.K, l.V, l.O, l.Gate, l.Up, l.Down }).Select(m => m.DType).Distinct().ToArray();
        Assert.Equal(3, dtypes.Length);
    }

    [Fact]
    public void Integer_dtype_where_a_weight_is_expected_is_named()
    {
        var shape = ModelShape.Tiny(Vocab);
        RandomModelWriter.WriteConfig(_dir.Path, shape, DType.F32);
        // Hand-built file: the embedding stored as I32 (same element size as F32, so sizes stay valid).
        long rows = Vocab, cols = 64;
        string header = $$$"""{"model.embed_tokens.weight":{"dtype":"I32","shape":[{{{rows}}},{{{cols}}}],"data_offsets":[0,{{{rows * cols * 4}}}]}}""";
        File.WriteAllBytes(_dir.File("model.safetensors"), RawSafetensors.Build(header, new byte[rows * cols * 4]));
        var e = Assert.Throws<ModelFormatException>(() => LlamaWeightsLoader.Load(_dir.Path));
        Assert.Contains(_dir.File("model.safetensors"), e.Message);
        Assert.Contains("tensor 'model.embed_tokens.weight' has dtype I32", e.Message);
    }

    [Fact]
    public void Disposing_the_weights_unmaps_the_files()
    {
        RandomModelWriter.Write(_dir.Path, ModelShape.Tiny(Vocab), seed: 1, DType.BF16, shards: 2);
        var w = LlamaWeightsLoader.Load(_dir.Path, WeightPlacement.Mapped);
        var files = w.Owners.Cast<SafetensorsFile>().ToArray();
        w.Dispose();
        Assert.Equal(2, files.Length);
        Assert.All(files, f => Assert.Throws<ObjectDisposedException>(() => f.GetDataPointer(f.Tensors.Keys.First())));
    }

    private void WriteModelWithout(ModelShape shape, string omitted)
    {
        RandomModelWriter.WriteConfig(_dir.Path, shape, DType.F32);
        var writer = new SafetensorsWriter();
        bool found = false;
        foreach (var spec in RandomModelWriter.TensorLayout(shape))
        {
            if (spec.Name == omitted) { found = true; continue; }
            writer.Add(spec.Name, DType.F32, spec.Shape, (start, d) => RandomModelWriter.FillValues(1, spec, start, d));
        }
        Assert.True(found, $"{omitted} is not part of the layout");
        writer.Save(_dir.File("model.safetensors"));
    }

    private void EditConfig(Action<JsonObject> edit)
    {
        string path = _dir.File("config.json");
        var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(config);
        File.WriteAllText(path, config.ToJsonString());
    }
}
