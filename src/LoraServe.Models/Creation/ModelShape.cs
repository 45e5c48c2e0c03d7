using LoraServe.Core.Kernels;
using LoraServe.Models.Config;

namespace LoraServe.Models.Creation;

/// <summary>
/// The hyper-parameters of a Llama-family model to create from scratch (random weights in the
/// real HF format, see <see cref="RandomModelWriter"/>). Named presets plus small derivations
/// (qwen2 biases, llama3 rope scaling, untied head …) cover the variants the loader and the
/// forward pass must handle. Token ids belong to the tokenizer, so callers set them.
/// </summary>
public sealed record ModelShape
{
    public const string TinyPreset = "tiny";
    public const string SmolLM2_135MPreset = "smollm2-135m";

    public static IReadOnlyList<string> PresetNames { get; } = [TinyPreset, SmolLM2_135MPreset];

    public required string Name { get; init; }
    public ModelArchitecture Architecture { get; init; } = ModelArchitecture.Llama;
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int NumLayers { get; init; }
    public required int NumHeads { get; init; }
    public required int NumKvHeads { get; init; }
    public required int HeadDim { get; init; }
    public required int VocabSize { get; init; }
    public int MaxPositionEmbeddings { get; init; } = 2048;
    public double RopeTheta { get; init; } = 10000.0;
    public Llama3RopeScaling? RopeScaling { get; init; }
    public float RmsNormEps { get; init; } = 1e-5f;
    public bool TieWordEmbeddings { get; init; } = true;

    /// <summary>Llama "attention_bias": bias on q/k/v/o. (Qwen2 always has q/k/v bias.)</summary>
    public bool AttentionBias { get; init; }

    /// <summary>Llama "mlp_bias": bias on gate/up/down.</summary>
    public bool MlpBias { get; init; }

    /// <summary>Mistral "sliding_window"; null = full attention.</summary>
    public int? SlidingWindow { get; init; }

    public int? BosTokenId { get; init; }
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];

    /// <summary>
    /// 2 layers of hidden 64: big enough for GQA (4 query heads over 2 KV heads), small enough
    /// that a test writes and runs it in milliseconds. The vocabulary comes from the tokenizer.
    /// </summary>
    public static ModelShape Tiny(int vocabSize) => new()
    {
        Name = TinyPreset,
        HiddenSize = 64,
        IntermediateSize = 160,
        NumLayers = 2,
        NumHeads = 4,
        NumKvHeads = 2,
        HeadDim = 16,
        VocabSize = vocabSize,
        MaxPositionEmbeddings = 2048,
        RopeTheta = 10000.0,
        RmsNormEps = 1e-5f,
        TieWordEmbeddings = true,
    };

    /// <summary>HuggingFaceTB/SmolLM2-135M's config.json (bos = eos = 0, "<|endoftext|>").</summary>
    public static ModelShape SmolLM2_135M() => new()
    {
        Name = SmolLM2_135MPreset,
        HiddenSize = 576,
        IntermediateSize = 1536,
        NumLayers = 30,
        NumHeads = 9,
        NumKvHeads = 3,
        HeadDim = 64,
        VocabSize = 49152,
        MaxPositionEmbeddings = 8192,
        RopeTheta = 100000.0,
        RmsNormEps = 1e-5f,
        TieWordEmbeddings = true,
        BosTokenId = 0,
        EosTokenIds = [0],
    };

    /// <summary>A preset by name; <paramref name="vocabSize"/> overrides the preset's vocabulary (required for "tiny").</summary>
    public static ModelShape Preset(string name, int? vocabSize = null)
    {
        switch (name)
        {
            case TinyPreset:
                return Tiny(vocabSize ?? throw new ArgumentException("preset 'tiny' needs a vocabulary size (from the tokenizer)", nameof(vocabSize)));
            case SmolLM2_135MPreset:
                var shape = SmolLM2_135M();
                return vocabSize is int v ? shape with { VocabSize = v } : shape;
            default:
                throw new ArgumentException($"unknown model preset '{name}' (known: {string.Join(", ", PresetNames)})", nameof(name));
        }
    }

    /// <summary>The token ids of the tokenizer the model will be paired with.</summary>
    public ModelShape WithTokens(int vocabSize, int? bosTokenId, IReadOnlyList<int> eosTokenIds) =>
        this with { VocabSize = vocabSize, BosTokenId = bosTokenId, EosTokenIds = eosTokenIds };

    /// <summary>Qwen2ForCausalLM: same blocks plus q/k/v bias; head_dim must be hidden / heads.</summary>
    public ModelShape AsQwen2() => this with
    {
        Name = Name + "-qwen2",
        Architecture = ModelArchitecture.Qwen2,
        AttentionBias = false,
        MlpBias = false,
        SlidingWindow = null,
    };

    /// <summary>MistralForCausalLM, optionally with a sliding attention window.</summary>
    public ModelShape AsMistral(int? slidingWindow = null) => this with
    {
        Name = Name + "-mistral",
        Architecture = ModelArchitecture.Mistral,
        AttentionBias = false,
        MlpBias = false,
        SlidingWindow = slidingWindow,
    };

    /// <summary>Llama 3.1-style rope scaling (defaults are Llama 3.1's: factor 8, low 1, high 4).</summary>
    public ModelShape WithLlama3RopeScaling(double factor = 8.0, double lowFreqFactor = 1.0, double highFreqFactor = 4.0, int? originalMaxPositionEmbeddings = null) => this with
    {
        Name = Name + "-rope-llama3",
        RopeScaling = new Llama3RopeScaling(factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings ?? MaxPositionEmbeddings),
    };

    /// <summary>A separate lm_head.weight instead of reusing the embedding.</summary>
    public ModelShape Untied() => this with { Name = Name + "-untied", TieWordEmbeddings = false };

    /// <summary>Llama with attention_bias (q/k/v/o) and/or mlp_bias (gate/up/down).</summary>
    public ModelShape WithLlamaBiases(bool attention = true, bool mlp = true) => this with
    {
        Name = Name + "-bias",
        Architecture = ModelArchitecture.Llama,
        AttentionBias = attention,
        MlpBias = mlp,
    };

    /// <summary>The config the loader must produce for a directory written from this shape.</summary>
    public ModelConfig ToConfig(string? torchDtype = null) => new()
    {
        Architecture = Architecture,
        HiddenSize = HiddenSize,
        IntermediateSize = IntermediateSize,
        NumLayers = NumLayers,
        NumHeads = NumHeads,
        NumKvHeads = NumKvHeads,
        HeadDim = HeadDim,
        VocabSize = VocabSize,
        MaxPositionEmbeddings = MaxPositionEmbeddings,
        RopeTheta = RopeTheta,
        RopeScaling = RopeScaling,
        RmsNormEps = RmsNormEps,
        TieWordEmbeddings = TieWordEmbeddings,
        QkvBias = Architecture == ModelArchitecture.Qwen2 || (Architecture == ModelArchitecture.Llama && AttentionBias),
        OutputBias = Architecture == ModelArchitecture.Llama && AttentionBias,
        MlpBias = Architecture == ModelArchitecture.Llama && MlpBias,
        SlidingWindow = Architecture == ModelArchitecture.Mistral ? SlidingWindow ?? 0 : 0,
        BosTokenId = BosTokenId,
        EosTokenIds = EosTokenIds,
        TorchDtype = torchDtype,
    };

    /// <summary>Throws <see cref="ArgumentException"/> when the shape cannot make a loadable model.</summary>
    public void Validate()
    {
        void Positive(int value, string field)
        {
            if (value <= 0) throw new ArgumentException($"model shape '{Name}': {field} must be positive, got {value}");
        }
        Positive(HiddenSize, nameof(HiddenSize));
        Positive(IntermediateSize, nameof(IntermediateSize));
        Positive(NumLayers, nameof(NumLayers));
        Positive(NumHeads, nameof(NumHeads));
        Positive(NumKvHeads, nameof(NumKvHeads));
        Positive(HeadDim, nameof(HeadDim));
        Positive(VocabSize, nameof(VocabSize));
        Positive(MaxPositionEmbeddings, nameof(MaxPositionEmbeddings));
        if (NumHeads % NumKvHeads != 0) throw new ArgumentException($"model shape '{Name}': NumKvHeads {NumKvHeads} does not divide NumHeads {NumHeads}");
        if (HeadDim % 2 != 0) throw new ArgumentException($"model shape '{Name}': HeadDim {HeadDim} must be even for rotary embeddings");
        if (Architecture == ModelArchitecture.Qwen2 && HiddenSize != NumHeads * HeadDim)
            throw new ArgumentException($"model shape '{Name}': qwen2 needs HiddenSize == NumHeads * HeadDim ({NumHeads} * {HeadDim} != {HiddenSize})");
        if (BosTokenId is int bos && (bos < 0 || bos >= VocabSize)) throw new ArgumentException($"model shape '{Name}': BosTokenId {bos} outside vocabulary {VocabSize}");
        foreach (int eos in EosTokenIds)
            if (eos < 0 || eos >= VocabSize) throw new ArgumentException($"model shape '{Name}': EosTokenId {eos} outside vocabulary {VocabSize}");
    }
}
