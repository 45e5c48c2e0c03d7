using System.Text.Json;
using System.Text.Unicode;
using LoraServe.Core.Kernels;

namespace LoraServe.Models.Config;

/// <summary>
/// Reads a Hugging Face model directory's config.json (and generation_config.json when present)
/// into a validated <see cref="ModelConfig"/>. Defaults follow the transformers config classes
/// (LlamaConfig, MistralConfig, Qwen2Config) so a directory loads here exactly when it would load
/// there; everything the forward pass depends on is checked once, here, so later code can trust it.
/// </summary>
public static class ModelConfigLoader
{
    public const string ConfigFileName = "config.json";
    public const string GenerationConfigFileName = "generation_config.json";

    /// <summary>The config.json "model_type" values this engine runs.</summary>
    public static IReadOnlyList<string> SupportedModelTypes { get; } = ["llama", "mistral", "qwen2"];

    public static ModelConfig Load(string modelDir)
    {
        string dir = Path.GetFullPath(modelDir);
        string configPath = Path.Combine(dir, ConfigFileName);
        if (!Directory.Exists(dir)) throw new ModelFormatException(dir, "model directory does not exist");
        if (!File.Exists(configPath)) throw new ModelFormatException(configPath, "file not found; a model directory needs a Hugging Face config.json");

        using var config = ParseObject(configPath);
        var result = ReadingStrings(configPath, () => Parse(new JsonFields(configPath, config.RootElement)));

        string generationPath = Path.Combine(dir, GenerationConfigFileName);
        if (File.Exists(generationPath))
        {
            // generate() takes bos/eos from generation_config.json over config.json, so do we.
            using var generation = ParseObject(generationPath);
            var genFields = new JsonFields(generationPath, generation.RootElement);
            var fromConfig = result;
            result = ReadingStrings(generationPath, () => fromConfig with
            {
                BosTokenId = genFields.OptionalTokenId("bos_token_id") ?? fromConfig.BosTokenId,
                EosTokenIds = genFields.OptionalTokenIds("eos_token_id") ?? fromConfig.EosTokenIds,
            });
        }
        ValidateTokenIds(configPath, result);
        return result;
    }

    private static ModelConfig Parse(JsonFields f)
    {
        string modelType = f.RequiredString("model_type");
        ModelArchitecture arch = modelType switch
        {
            "llama" => ModelArchitecture.Llama,
            "mistral" => ModelArchitecture.Mistral,
            "qwen2" => ModelArchitecture.Qwen2,
            _ => throw f.Error("model_type", $"'{modelType}' is not supported (supported: {string.Join(", ", SupportedModelTypes)})"),
        };

        int hidden = f.RequiredPositiveInt("hidden_size");
        int intermediate = f.RequiredPositiveInt("intermediate_size");
        int layers = f.RequiredPositiveInt("num_hidden_layers");
        int heads = f.RequiredPositiveInt("num_attention_heads");
        int vocab = f.RequiredPositiveInt("vocab_size");
        int kvHeads = f.OptionalPositiveInt("num_key_value_heads") ?? heads;
        if (heads % kvHeads != 0)
            throw f.Error("num_key_value_heads", $"{kvHeads} does not divide num_attention_heads {heads} (grouped-query attention needs whole groups)");

        // Llama and Mistral take an explicit head_dim (e.g. Mistral-Nemo: 5120 hidden, 32 × 128);
        // Qwen2 derives it from hidden_size, so there the product must match.
        int? explicitHeadDim = f.OptionalPositiveInt("head_dim");
        int headDim;
        if (explicitHeadDim is int hd && arch != ModelArchitecture.Qwen2)
        {
            headDim = hd;
        }
        else
        {
            if (hidden % heads != 0)
                throw f.Error("hidden_size", $"{hidden} is not divisible by num_attention_heads {heads}");
            headDim = hidden / heads;
            if (explicitHeadDim is int given && given != headDim)
                throw f.Error("head_dim", $"{given} differs from hidden_size / num_attention_heads = {headDim}, which {modelType} requires");
        }
        if (headDim % 2 != 0) throw f.Error("head_dim", $"{headDim} is odd; rotary embeddings rotate pairs of dimensions");

        string activation = f.OptionalString("hidden_act") ?? "silu";
        if (activation != "silu")
            throw f.Error("hidden_act", $"'{activation}' is not supported (the Llama-family MLP here is SwiGLU: 'silu')");

        var (ropeTheta, ropeScaling) = ParseRope(f);

        // Class defaults from transformers: LlamaConfig 2048, MistralConfig 4096*32, Qwen2Config 32768.
        int defaultMaxPositions = arch switch
        {
            ModelArchitecture.Llama => 2048,
            ModelArchitecture.Mistral => 4096 * 32,
            _ => 32768,
        };

        bool attentionBias = arch == ModelArchitecture.Llama && (f.OptionalBool("attention_bias") ?? false);
        bool mlpBias = arch == ModelArchitecture.Llama && (f.OptionalBool("mlp_bias") ?? false);

        return new ModelConfig
        {
            Architecture = arch,
            HiddenSize = hidden,
            IntermediateSize = intermediate,
            NumLayers = layers,
            NumHeads = heads,
            NumKvHeads = kvHeads,
            HeadDim = headDim,
            VocabSize = vocab,
            MaxPositionEmbeddings = f.OptionalPositiveInt("max_position_embeddings") ?? defaultMaxPositions,
            RopeTheta = ropeTheta,
            RopeScaling = ropeScaling,
            RmsNormEps = (float)(f.OptionalPositiveDouble("rms_norm_eps") ?? 1e-6),
            TieWordEmbeddings = f.OptionalBool("tie_word_embeddings") ?? false,
            // Qwen2Attention: q/k/v Linear(bias=True), o_proj bias=False; LlamaAttention: all four follow attention_bias.
            QkvBias = arch == ModelArchitecture.Qwen2 || attentionBias,
            OutputBias = attentionBias,
            MlpBias = mlpBias,
            SlidingWindow = ParseSlidingWindow(f, arch, layers),
            BosTokenId = f.OptionalTokenId("bos_token_id"),
            EosTokenIds = f.OptionalTokenIds("eos_token_id") ?? [],
            TorchDtype = f.OptionalString("torch_dtype") ?? f.OptionalString("dtype"),
        };
    }

    /// <summary>
    /// rope_theta + rope_scaling (transformers ≤ 4.x) or rope_parameters (transformers 5), of which
    /// only "default" and "llama3" are implemented; any other scheme would silently give wrong
    /// positions, so it is refused by name.
    /// </summary>
    private static (double Theta, Llama3RopeScaling? Scaling) ParseRope(JsonFields f)
    {
        double theta = f.OptionalPositiveDouble("rope_theta") ?? 10000.0;
        string scalingField = "rope_scaling";
        JsonFields? scaling = f.OptionalObject("rope_scaling");
        if (f.OptionalObject("rope_parameters") is JsonFields parameters)
        {
            theta = parameters.OptionalPositiveDouble("rope_theta") ?? theta;
            scaling = parameters;
            scalingField = "rope_parameters";
        }
        if (scaling is null) return (theta, null);

        string? type = scaling.OptionalString("rope_type") ?? scaling.OptionalString("type");
        switch (type)
        {
            case null:
                throw f.Error(scalingField, "has neither 'rope_type' nor 'type'");
            case "default":
                return (theta, null);
            case "llama3":
                double factor = scaling.RequiredPositiveDouble("factor");
                double low = scaling.RequiredPositiveDouble("low_freq_factor");
                double high = scaling.RequiredPositiveDouble("high_freq_factor");
                int original = scaling.RequiredPositiveInt("original_max_position_embeddings");
                // The smooth blend divides by (high - low).
                if (high <= low)
                    throw f.Error($"{scalingField}.high_freq_factor", $"{high} must be greater than low_freq_factor {low}");
                return (theta, new Llama3RopeScaling(factor, low, high, original));
            default:
                throw f.Error($"{scalingField}.rope_type", $"'{type}' is not supported (supported: 'default', 'llama3')");
        }
    }

    private static int ParseSlidingWindow(JsonFields f, ModelArchitecture arch, int layers)
    {
        switch (arch)
        {
            case ModelArchitecture.Mistral:
                // Mistral 7B v0.1 uses 4096; v0.2 and later write null (full attention).
                return f.OptionalPositiveInt("sliding_window") ?? 0;
            case ModelArchitecture.Qwen2:
                if (!(f.OptionalBool("use_sliding_window") ?? false)) return 0;
                int window = f.OptionalPositiveInt("sliding_window")
                    ?? throw f.Error("sliding_window", "is required when use_sliding_window is true");
                // Qwen2 slides only in layers >= max_window_layers; one window for all layers is all
                // ModelConfig can express, so a mix is refused rather than run wrongly.
                int fullLayers = f.OptionalNonNegativeInt("max_window_layers") ?? 28;
                if (fullLayers >= layers) return 0;
                if (fullLayers == 0) return window;
                throw f.Error("max_window_layers", $"{fullLayers} mixes full-attention and sliding-window layers among {layers}; per-layer windows are not supported");
            default:
                return 0;
        }
    }

    private static void ValidateTokenIds(string configPath, ModelConfig config)
    {
        if (config.BosTokenId is int bos && bos >= config.VocabSize)
            throw new ModelFormatException(configPath, $"field 'bos_token_id' {bos} (here or in {GenerationConfigFileName}) is outside vocab_size {config.VocabSize}");
        foreach (int eos in config.EosTokenIds)
        {
            if (eos >= config.VocabSize)
                throw new ModelFormatException(configPath, $"field 'eos_token_id' {eos} (here or in {GenerationConfigFileName}) is outside vocab_size {config.VocabSize}");
        }
    }

    /// <summary>
    /// An unpaired surrogate escape ("\uD800") is well-formed JSON that System.Text.Json only
    /// rejects, with InvalidOperationException, when the string is read.
    /// </summary>
    private static T ReadingStrings<T>(string path, Func<T> read)
    {
        try
        {
            return read();
        }
        catch (InvalidOperationException e) when (e is not ObjectDisposedException)
        {
            throw new ModelFormatException(path, $"holds an invalid string ({e.Message})", e);
        }
    }

    private static JsonDocument ParseObject(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        // System.Text.Json checks UTF-8 only when a string is read; check up front so it is a format error.
        if (!Utf8.IsValid(bytes)) throw new ModelFormatException(path, "file is not valid UTF-8");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(bytes, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new ModelFormatException(path, $"invalid JSON ({e.Message})", e);
        }
        var kind = doc.RootElement.ValueKind;
        if (kind != JsonValueKind.Object)
        {
            doc.Dispose();
            throw new ModelFormatException(path, $"expected a JSON object at the top level, found {kind}");
        }
        return doc;
    }
}
