using LoraServe.Models.Llama;

namespace LoraServe.Lora.Adapters;

/// <summary>
/// One adapted projection: PEFT's lora_A (Rank, In) and lora_B (Out, Rank), widened to float32
/// (adapters are small; float32 keeps the shrink/expand kernels simple and exact enough), and the
/// scale s = α/r, or α/√r under rsLoRA (DESIGN §4).
/// </summary>
public sealed class LoraModule
{
    public LoraModule(int layer, LinearKind kind, float[] a, float[] b, int rank, int inFeatures, int outFeatures, float scale)
    {
        if (rank <= 0) throw new ArgumentOutOfRangeException(nameof(rank), rank, "LoRA rank must be positive");
        if (a.Length != rank * inFeatures) throw new ArgumentException($"lora_A of layer {layer} {kind.ModuleName()} has {a.Length} elements, expected {rank}x{inFeatures}");
        if (b.Length != outFeatures * rank) throw new ArgumentException($"lora_B of layer {layer} {kind.ModuleName()} has {b.Length} elements, expected {outFeatures}x{rank}");
        Layer = layer;
        Kind = kind;
        A = a;
        B = b;
        Rank = rank;
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Scale = scale;
    }

    public int Layer { get; }
    public LinearKind Kind { get; }

    /// <summary>(Rank, InFeatures) row-major.</summary>
    public float[] A { get; }

    /// <summary>(OutFeatures, Rank) row-major.</summary>
    public float[] B { get; }

    public int Rank { get; }
    public int InFeatures { get; }
    public int OutFeatures { get; }
    public float Scale { get; }

    public long ByteCount => (A.Length + (long)B.Length) * sizeof(float);

    /// <summary>PEFT's scaling: α/r, or α/√r with use_rslora (Kalajdzievski 2023).</summary>
    public static float ScaleFor(double alpha, int rank, bool useRsLora) => (float)(useRsLora ? alpha / Math.Sqrt(rank) : alpha / rank);
}
