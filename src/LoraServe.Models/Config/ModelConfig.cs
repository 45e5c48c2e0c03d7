using LoraServe.Core.Kernels;

namespace LoraServe.Models.Config;

/// <summary>
/// The parts of a Hugging Face config.json that define a Llama-family forward pass.
/// Parsed and validated by <see cref="ModelConfigLoader"/>.
/// </summary>
public sealed record ModelConfig
{
    public required ModelArchitecture Architecture { get; init; }
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int NumLayers { get; init; }
    public required int NumHeads { get; init; }
    public required int NumKvHeads { get; init; }

    /// <summary>"head_dim" when present, else hidden_size / num_attention_heads.</summary>
    public required int HeadDim { get; init; }

    public required int VocabSize { get; init; }
    public required int MaxPositionEmbeddings { get; init; }
    public required double RopeTheta { get; init; }
    public Llama3RopeScaling? RopeScaling { get; init; }
    public required float RmsNormEps { get; init; }
    public required bool TieWordEmbeddings { get; init; }

    /// <summary>q/k/v projections carry a bias (always for qwen2; "attention_bias" for llama; o_proj too for llama).</summary>
    public bool QkvBias { get; init; }

    /// <summary>o_proj carries a bias (llama "attention_bias": true).</summary>
    public bool OutputBias { get; init; }

    /// <summary>gate/up/down projections carry a bias (llama "mlp_bias").</summary>
    public bool MlpBias { get; init; }

    /// <summary>Sliding attention window in tokens; 0 = full causal attention.</summary>
    public int SlidingWindow { get; init; }

    public int? BosTokenId { get; init; }
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];

    /// <summary>"torch_dtype"/"dtype" as written, informational ("bfloat16", "float32" …).</summary>
    public string? TorchDtype { get; init; }

    public int KvGroups => NumHeads / NumKvHeads;
}
