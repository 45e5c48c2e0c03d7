using LoraServe.Core.Tensors;
using LoraServe.Models.Config;

namespace LoraServe.Models.Weights;

/// <summary>One decoder layer's weights; matrices in nn.Linear layout (out, in).</summary>
public sealed class LlamaLayerWeights
{
    public required float[] InputNorm { get; init; }
    public required float[] PostAttentionNorm { get; init; }
    public required WeightMatrix Q { get; init; }
    public required WeightMatrix K { get; init; }
    public required WeightMatrix V { get; init; }
    public required WeightMatrix O { get; init; }
    public required WeightMatrix Gate { get; init; }
    public required WeightMatrix Up { get; init; }
    public required WeightMatrix Down { get; init; }
    public float[]? QBias { get; init; }
    public float[]? KBias { get; init; }
    public float[]? VBias { get; init; }
    public float[]? OBias { get; init; }
    public float[]? GateBias { get; init; }
    public float[]? UpBias { get; init; }
    public float[]? DownBias { get; init; }
}

/// <summary>
/// All weights of a Llama-family causal LM. Matrices are views into memory-mapped safetensors
/// files (kept in their stored dtype); norms and biases are small and widened to float32.
/// Disposing releases the mappings.
/// </summary>
public sealed class LlamaWeights : IDisposable
{
    public required ModelConfig Config { get; init; }

    /// <summary>model.embed_tokens.weight: (vocab, hidden).</summary>
    public required WeightMatrix Embedding { get; init; }

    public required LlamaLayerWeights[] Layers { get; init; }

    /// <summary>model.norm.weight: (hidden).</summary>
    public required float[] FinalNorm { get; init; }

    /// <summary>lm_head.weight (vocab, hidden); the same object as <see cref="Embedding"/> when tied.</summary>
    public required WeightMatrix LmHead { get; init; }

    /// <summary>What keeps the memory behind the matrices alive (mapped files, buffers).</summary>
    public IReadOnlyList<IDisposable> Owners { get; init; } = [];

    public long MatrixBytes
    {
        get
        {
            long sum = Embedding.ByteCount + (ReferenceEquals(LmHead, Embedding) ? 0 : LmHead.ByteCount);
            foreach (var l in Layers) sum += l.Q.ByteCount + l.K.ByteCount + l.V.ByteCount + l.O.ByteCount + l.Gate.ByteCount + l.Up.ByteCount + l.Down.ByteCount;
            return sum;
        }
    }

    public void Dispose()
    {
        foreach (var owner in Owners) owner.Dispose();
    }
}
