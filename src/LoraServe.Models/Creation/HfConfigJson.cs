using System.Text.Json.Nodes;
using LoraServe.Core.Tensors;
using LoraServe.Models.Config;

namespace LoraServe.Models.Creation;

/// <summary>
/// The config.json transformers' save_pretrained would write for a <see cref="ModelShape"/>:
/// the family's own fields (LlamaConfig / MistralConfig / Qwen2Config), keys sorted as
/// to_json_string(sort_keys=True) does.
/// </summary>
internal static class HfConfigJson
{
    public static JsonObject Build(ModelShape s, DType dtype, string transformersVersion)
    {
        var (modelType, architecture) = s.Architecture switch
        {
            ModelArchitecture.Llama => ("llama", "LlamaForCausalLM"),
            ModelArchitecture.Mistral => ("mistral", "MistralForCausalLM"),
            ModelArchitecture.Qwen2 => ("qwen2", "Qwen2ForCausalLM"),
            _ => throw new ArgumentOutOfRangeException(nameof(s), s.Architecture, "unknown architecture"),
        };

        var fields = new SortedDictionary<string, JsonNode?>(StringComparer.Ordinal)
        {
            ["architectures"] = new JsonArray(architecture),
            ["model_type"] = modelType,
            ["attention_dropout"] = 0.0,
            ["bos_token_id"] = s.BosTokenId,
            ["eos_token_id"] = EosNode(s.EosTokenIds),
            ["hidden_act"] = "silu",
            ["hidden_size"] = s.HiddenSize,
            ["initializer_range"] = RandomModelWriter.InitializerRange,
            ["intermediate_size"] = s.IntermediateSize,
            ["max_position_embeddings"] = s.MaxPositionEmbeddings,
            ["num_attention_heads"] = s.NumHeads,
            ["num_hidden_layers"] = s.NumLayers,
            ["num_key_value_heads"] = s.NumKvHeads,
            ["rms_norm_eps"] = s.RmsNormEps,
            ["rope_scaling"] = RopeScalingNode(s),
            ["rope_theta"] = s.RopeTheta,
            ["tie_word_embeddings"] = s.TieWordEmbeddings,
            ["torch_dtype"] = TorchDtypeName(dtype),
            ["transformers_version"] = transformersVersion,
            ["use_cache"] = true,
            ["vocab_size"] = s.VocabSize,
        };
        switch (s.Architecture)
        {
            case ModelArchitecture.Llama:
                fields["attention_bias"] = s.AttentionBias;
                fields["mlp_bias"] = s.MlpBias;
                fields["head_dim"] = s.HeadDim;
                fields["pretraining_tp"] = 1;
                break;
            case ModelArchitecture.Mistral:
                fields["head_dim"] = s.HeadDim;
                fields["sliding_window"] = s.SlidingWindow;
                break;
            case ModelArchitecture.Qwen2:
                // Qwen2 derives head_dim from hidden_size; sliding window off, as in released Qwen2.5 configs.
                fields["use_sliding_window"] = false;
                fields["sliding_window"] = null;
                fields["max_window_layers"] = s.NumLayers;
                break;
        }
        return new JsonObject(fields);
    }

    /// <summary>An int for one eos id, a list for several (Llama 3 style), null for none.</summary>
    public static JsonNode? EosNode(IReadOnlyList<int> eos) => eos.Count switch
    {
        0 => null,
        1 => JsonValue.Create(eos[0]),
        _ => new JsonArray(eos.Select(id => (JsonNode?)JsonValue.Create(id)).ToArray()),
    };

    public static string TorchDtypeName(DType dtype) => dtype switch
    {
        DType.F32 => "float32",
        DType.F16 => "float16",
        DType.BF16 => "bfloat16",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype"),
    };

    private static JsonNode? RopeScalingNode(ModelShape s) => s.RopeScaling is { } r
        ? new JsonObject
        {
            ["factor"] = r.Factor,
            ["high_freq_factor"] = r.HighFreqFactor,
            ["low_freq_factor"] = r.LowFreqFactor,
            ["original_max_position_embeddings"] = r.OriginalMaxPositionEmbeddings,
            ["rope_type"] = "llama3",
        }
        : null;
}
