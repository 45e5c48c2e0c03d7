using LoraServe.Core.Tensors;
using LoraServe.Models.Config;
using LoraServe.Models.Llama;

namespace LoraServe.Models.Weights;

/// <summary>One decoder layer's weights; matrices in nn.Linear layout (out, in).</summary>
public sealed class LlamaLayerWeights
{
    private WeightMatrix _q = null!, _k = null!, _v = null!, _o = null!, _gate = null!, _up = null!, _down = null!;

    public required float[] InputNorm { get; init; }
    public required float[] PostAttentionNorm { get; init; }
    public required WeightMatrix Q { get => _q; init => _q = value; }
    public required WeightMatrix K { get => _k; init => _k = value; }
    public required WeightMatrix V { get => _v; init => _v = value; }
    public required WeightMatrix O { get => _o; init => _o = value; }
    public required WeightMatrix Gate { get => _gate; init => _gate = value; }
    public required WeightMatrix Up { get => _up; init => _up = value; }
    public required WeightMatrix Down { get => _down; init => _down = value; }

    /// <summary>The projection's matrix now (the base one unless an adapter is merged).</summary>
    public WeightMatrix Matrix(LinearKind kind) => Slot(kind);

    /// <summary>
    /// Puts <paramref name="matrix"/> in the projection's place and returns the matrix it replaces.
    /// This is how a merged adapter's W + s·B·A, built in memory of its own, stands in for the
    /// memory-mapped base W between forward steps (and how the base comes back): the base bytes are
    /// never written. Shape and dtype must match. Not to be called while a forward step runs.
    /// </summary>
    public WeightMatrix Replace(LinearKind kind, WeightMatrix matrix)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        ref var slot = ref Slot(kind);
        var old = slot;
        if (matrix.Rows != old.Rows || matrix.Cols != old.Cols || matrix.DType != old.DType)
            throw new ArgumentException($"{kind.ModuleName()} is ({old.Rows}, {old.Cols}) {old.DType}; the replacement '{matrix.Name}' is ({matrix.Rows}, {matrix.Cols}) {matrix.DType}");
        slot = matrix;
        return old;
    }

    private ref WeightMatrix Slot(LinearKind kind)
    {
        switch (kind)
        {
            case LinearKind.Q: return ref _q;
            case LinearKind.K: return ref _k;
            case LinearKind.V: return ref _v;
            case LinearKind.O: return ref _o;
            case LinearKind.Gate: return ref _gate;
            case LinearKind.Up: return ref _up;
            case LinearKind.Down: return ref _down;
            default: throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
    }

    public float[]? QBias { get; init; }
    public float[]? KBias { get; init; }
    public float[]? VBias { get; init; }
    public float[]? OBias { get; init; }
    public float[]? GateBias { get; init; }
    public float[]? UpBias { get; init; }
    public float[]? DownBias { get; init; }
}

/// <summary>
/// All weights of a Llama-family causal LM. Matrices keep their stored dtype and live where
/// <see cref="WeightPlacement"/> put them (views into the memory-mapped safetensors files, or one
/// huge-page arena); norms and biases are small and widened to float32. Disposing releases the
/// mappings or the arena.
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

    /// <summary>True when the matrices were copied into one huge-page arena of their own (<see cref="WeightPlacement.Resident"/>).</summary>
    public bool Resident { get; init; }

    /// <summary>What keeps the memory behind the matrices alive (mapped files, or the resident arena).</summary>
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
