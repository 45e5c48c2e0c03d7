using LoraServe.Core.Kernels;
using LoraServe.Core.Tensors;
using LoraServe.Lora.Adapters;
using LoraServe.Lora.Execution;
using LoraServe.Models.Config;
using LoraServe.Models.Llama;
using LoraServe.Models.Safetensors;
using LoraServe.Testing;

namespace LoraServe.Lora.Tests.Adapters;

public sealed class PeftAdapterLoaderTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("peft-").FullName;
    private static readonly ModelConfig Config = InMemoryModel.TinyConfig();

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>Writes an adapter directory by hand: the JSON text as given, and tensors under PEFT names.</summary>
    private string WriteAdapter(string configJson, IEnumerable<(string Name, long[] Shape, float[] Data)> tensors, DType dtype = DType.F32)
    {
        string dir = Path.Combine(_root, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "adapter_config.json"), configJson);
        var writer = new SafetensorsWriter(new Dictionary<string, string> { ["format"] = "pt" });
        foreach (var (name, shape, data) in tensors) writer.Add(name, dtype, shape, data);
        writer.Save(Path.Combine(dir, "adapter_model.safetensors"));
        return dir;
    }

    private static (string Name, long[] Shape, float[] Data)[] Module(int layer, LinearKind kind, int rank, int seed)
    {
        var (outDim, inDim) = kind.Shape(Config);
        var rng = new Random(seed);
        float[] Rand(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        string p = $"base_model.model.model.layers.{layer}.{kind.ModulePath()}";
        return [(p + ".lora_A.weight", [rank, inDim], Rand(rank * inDim)), (p + ".lora_B.weight", [outDim, rank], Rand(outDim * rank))];
    }

    [Fact]
    public void Rank_and_alpha_patterns_and_rslora_give_each_module_its_own_scale_and_output_matches_reference()
    {
        // r=4, α=8 by default; layer 1's v_proj has rank 2 via rank_pattern and α=3 via alpha_pattern; rsLoRA: s = α/√r.
        var tensors = Module(0, LinearKind.Q, 4, 1).Concat(Module(0, LinearKind.V, 4, 2)).Concat(Module(1, LinearKind.Q, 4, 3)).Concat(Module(1, LinearKind.V, 2, 4)).ToArray();
        string dir = WriteAdapter("""
            {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "use_rslora": true, "target_modules": ["q_proj", "v_proj"],
             "rank_pattern": {"model.layers.1.self_attn.v_proj": 2}, "alpha_pattern": {"layers.1.self_attn.v_proj": 3}, "bias": "none", "fan_in_fan_out": false}
            """, tensors, DType.BF16);
        var adapter = PeftAdapterLoader.Load(dir, "patterned", Config);
        Assert.Equal(4, adapter.ModuleCount);
        Assert.Equal(8 / 2.0, adapter.Module(0, LinearKind.Q)!.Scale, 6);
        Assert.Equal(3 / Math.Sqrt(2), adapter.Module(1, LinearKind.V)!.Scale, 6);
        Assert.Equal(2, adapter.Module(1, LinearKind.V)!.Rank);
        Assert.Null(adapter.Module(0, LinearKind.K));

        // The forward with this adapter equals the float64 reference built from the raw tensors (bf16-rounded) and hand-derived scales.
        float[] Bf16(float[] x) => x.Select(v => BFloat16.ToSingle(BFloat16.FromSingle(v))).ToArray();
        var reference = new Dictionary<(int, LinearKind), ReferenceLoraModule>
        {
            [(0, LinearKind.Q)] = new(Bf16(tensors[0].Data), Bf16(tensors[1].Data), 4, 8 / 2.0),
            [(0, LinearKind.V)] = new(Bf16(tensors[2].Data), Bf16(tensors[3].Data), 4, 8 / 2.0),
            [(1, LinearKind.Q)] = new(Bf16(tensors[4].Data), Bf16(tensors[5].Data), 4, 8 / 2.0),
            [(1, LinearKind.V)] = new(Bf16(tensors[6].Data), Bf16(tensors[7].Data), 2, 3 / Math.Sqrt(2)),
        };
        using var m = new InMemoryModel(Config, seed: 9);
        var model = new LlamaModel(m.Weights);
        int[] prompt = [4, 9, 16, 25, 36];
        var delta = new SegmentedLoraDelta();
        delta.Configure(Enumerable.Repeat<LoraAdapter?>(adapter, prompt.Length).ToArray());
        using var cache = model.CreateKvCache(1, 8);
        var logits = new float[Config.VocabSize];
        model.Forward(new ForwardBatch(prompt, [new AttentionSequence(0, prompt.Length, 0, [0])], [prompt.Length - 1]) { Delta = delta }, cache, logits);
        var expected = ReferenceForward.Logits(m, prompt, reference);
        TensorAssert.Close(Enumerable.Range(0, Config.VocabSize).Select(v => expected[prompt.Length - 1, v]).ToArray(), logits, 1e-4, "peft adapter");
    }

    [Theory]
    [InlineData("\"all-linear\"")]
    [InlineData("\".*\\\\.(q_proj|down_proj)\"")]
    [InlineData("[\"q_proj\", \"down_proj\"]")]
    public void Target_modules_as_all_linear_regex_or_list_accept_the_targeted_tensors(string targets)
    {
        string dir = WriteAdapter($$"""{"r": 2, "lora_alpha": 4, "target_modules": {{targets}}}""", Module(0, LinearKind.Q, 2, 1).Concat(Module(1, LinearKind.Down, 2, 2)));
        var adapter = PeftAdapterLoader.Load(dir, "t", Config);
        Assert.Equal(2, adapter.ModuleCount);
        Assert.Equal(2f, adapter.Module(1, LinearKind.Down)!.Scale);
    }

    public static TheoryData<string, string, string> Rejections => new()
    {
        { """{"r": 2, "lora_alpha": 4, "target_modules": ["q_proj"], "use_dora": true}""", "q", "use_dora" },
        { """{"r": 2, "lora_alpha": 4, "target_modules": ["q_proj"], "modules_to_save": ["lm_head"]}""", "q", "modules_to_save" },
        { """{"r": 2, "lora_alpha": 4, "target_modules": ["q_proj"], "bias": "all"}""", "q", "'bias'" },
        { """{"r": 2, "lora_alpha": 4, "target_modules": ["q_proj"], "peft_type": "IA3"}""", "q", "peft_type" },
        { """{"r": 2, "lora_alpha": 4, "target_modules": ["k_proj"]}""", "q", "target_modules" },
        { """{"r": 2, "lora_alpha": 4, "target_modules": "(unclosed"}""", "q", "not a valid regular expression" },
        { """{"r": 2, "lora_alpha": 4}""", "q", "'target_modules' is missing" },
        { """{"r": 2, "lora_alpha": 4, "target_modules": ["q_proj"]}""", "embedding", "LoRA on the embedding layer is not supported" },
        { """{"r": 2, "lora_alpha": 4, "target_modules": ["q_proj", "lm_head"]}""", "lm_head", "LoRA on lm_head is not supported" },
        { """{"r": 2, "lora_alpha": 4, "target_modules": ["q_proj"]}""", "empty", "holds no LoRA tensors" },
        { """{"r": 2, "lora_alpha": 4, "target_modules": ["q_proj"]}""", "layer-out-of-range", "the base model has 2 layers" },
        { """{"r": 2, "lora_alpha": 4, "target_modules": ["q_proj"]}""", "wrong-hidden", "expected [2, 48]" },
        { """{"r": 3, "lora_alpha": 4, "target_modules": ["q_proj"]}""", "q", "expected [3, 48]" },
        { """{"r": 2, "lora_alpha": 4, "target_modules": ["q_proj"]}""", "a-only", "lora_A but no lora_B" },
        { """{"r": 2, "lora_alpha": "four", "target_modules": ["q_proj"]}""", "q", "'lora_alpha' must be a number" },
        { """{"r": 2, "lora_alpha": 4, "target_modules": ["q_proj"],""", "q", "invalid JSON" },
    };

    [Theory]
    [MemberData(nameof(Rejections))]
    public void Unsupported_or_mismatched_adapters_are_rejected_with_a_message_naming_the_problem(string configJson, string tensorSet, string expectedInMessage)
    {
        var q = Module(0, LinearKind.Q, 2, 1);
        (string, long[], float[])[] tensors = tensorSet switch
        {
            "q" => q,
            "embedding" => [.. q, ("base_model.model.model.embed_tokens.lora_embedding_A", [2, Config.VocabSize], new float[2 * Config.VocabSize])],
            "lm_head" => [.. q, ("base_model.model.lm_head.lora_A.weight", [2, Config.HiddenSize], new float[2 * Config.HiddenSize])],
            "empty" => [],
            "layer-out-of-range" => Module(5, LinearKind.Q, 2, 1),
            "wrong-hidden" => [("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", [2, 64], new float[128]), q[1]],
            "a-only" => [q[0]],
            _ => throw new ArgumentException(tensorSet),
        };
        string dir = WriteAdapter(configJson, tensors);
        var e = Assert.Throws<ModelFormatException>(() => PeftAdapterLoader.Load(dir, "bad", Config));
        Assert.Contains(expectedInMessage, e.Message);
        Assert.Contains(dir, e.Message);
    }

    [Fact]
    public void Pickle_bin_weights_are_rejected_by_name()
    {
        string dir = Path.Combine(_root, "pickle");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "adapter_config.json"), """{"r": 2, "lora_alpha": 4, "target_modules": ["q_proj"]}""");
        File.WriteAllBytes(Path.Combine(dir, "adapter_model.bin"), [0x80, 0x02]);
        var e = Assert.Throws<ModelFormatException>(() => PeftAdapterLoader.Load(dir, "pickle", Config));
        Assert.Contains("adapter_model.bin", e.Message);
        Assert.Contains("pickle", e.Message);
    }

    [Fact]
    public void Writer_output_round_trips_with_peft_names_and_shapes()
    {
        var (adapter, _) = RandomAdapters.Create(Config, "rt", 3, [LinearKind.Q, LinearKind.Down], alpha: 6, rsLora: false, seed: 4);
        string dir = Path.Combine(_root, "rt");
        PeftAdapterWriter.Write(dir, adapter, alpha: 6, useRsLora: false, baseModelNameOrPath: "tiny");
        using (var f = SafetensorsFile.Open(Path.Combine(dir, "adapter_model.safetensors")))
        {
            Assert.Equal([3L, 48L], f.GetInfo("base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight").Shape);
            Assert.Equal([48L, 3L], f.GetInfo("base_model.model.model.layers.0.mlp.down_proj.lora_B.weight").Shape);
            Assert.Equal(8, f.Tensors.Count);
        }
        var loaded = PeftAdapterLoader.Load(dir, "rt", Config);
        foreach (var m in adapter.Modules)
        {
            var l = loaded.Module(m.Layer, m.Kind)!;
            Assert.Equal(m.A, l.A);
            Assert.Equal(m.B, l.B);
            Assert.Equal(m.Scale, l.Scale);
        }
    }
}
