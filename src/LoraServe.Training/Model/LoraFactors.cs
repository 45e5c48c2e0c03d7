using LoraServe.Models.Llama;

namespace LoraServe.Training.Model;

/// <summary>
/// One trainable LoRA module: PEFT's lora_A (Rank, In) and lora_B (Out, Rank) in float32 with their
/// gradients, and the fixed scale s = α/r (α/√r under rsLoRA). The only weights that get gradient
/// buffers in LoRA mode — the base model stays frozen and gradient-free.
/// </summary>
public sealed class LoraFactors
{
    public LoraFactors(int layer, LinearKind kind, int rank, int inFeatures, int outFeatures, float scale)
    {
        if (rank <= 0) throw new ArgumentOutOfRangeException(nameof(rank), rank, "LoRA rank must be positive");
        Layer = layer;
        Kind = kind;
        Rank = rank;
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Scale = scale;
        A = new float[rank * inFeatures];
        B = new float[outFeatures * rank];
        GradA = new float[A.Length];
        GradB = new float[B.Length];
    }

    public int Layer { get; }
    public LinearKind Kind { get; }
    public int Rank { get; }
    public int InFeatures { get; }
    public int OutFeatures { get; }
    public float Scale { get; }

    /// <summary>(Rank, InFeatures) row-major.</summary>
    public float[] A { get; }

    /// <summary>(OutFeatures, Rank) row-major.</summary>
    public float[] B { get; }

    public float[] GradA { get; }
    public float[] GradB { get; }

    /// <summary>PEFT's module path prefix of the tensors ("base_model.model.model.layers.3.self_attn.q_proj").</summary>
    public string PeftPrefix => $"base_model.model.model.layers.{Layer}.{Kind.ModulePath()}";
}
