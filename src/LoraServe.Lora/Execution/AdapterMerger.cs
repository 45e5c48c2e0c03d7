using LoraServe.Core.Kernels;
using LoraServe.Core.Tensors;
using LoraServe.Lora.Adapters;
using LoraServe.Models.Llama;
using LoraServe.Models.Weights;

namespace LoraServe.Lora.Execution;

/// <summary>
/// Merged execution of one adapter (DESIGN §4): W ← W + s·B·A on every targeted projection, in the
/// weights' own dtype. Unmerge copies back the pristine bytes saved at merge time, so the base is
/// restored bit for bit — subtracting s·B·A again would drift by a rounding error per cycle.
/// The caller must not run a forward step concurrently with Merge or Unmerge.
/// </summary>
public sealed class AdapterMerger(LlamaWeights weights)
{
    private readonly List<(WeightMatrix Matrix, byte[] Pristine)> _saved = [];

    /// <summary>The adapter currently merged, or null.</summary>
    public LoraAdapter? Merged { get; private set; }

    public unsafe void Merge(LoraAdapter adapter)
    {
        if (Merged is not null) throw new InvalidOperationException($"adapter '{Merged.Name}' is merged; unmerge it before merging '{adapter.Name}'");
        if (adapter.NumLayers != weights.Layers.Length) throw new ArgumentException($"adapter '{adapter.Name}' has {adapter.NumLayers} layers, the model {weights.Layers.Length}");
        float[] delta = [], aT = [], sB = [];
        foreach (var m in adapter.Modules)
        {
            var w = Target(weights.Layers[m.Layer], m.Kind);
            if (w.Rows != m.OutFeatures || w.Cols != m.InFeatures)
                throw new ArgumentException($"adapter '{adapter.Name}' layer {m.Layer} {m.Kind.ModuleName()} is ({m.OutFeatures}, {m.InFeatures}), the weight is ({w.Rows}, {w.Cols})");
            var bytes = new Span<byte>((void*)w.Data, checked((int)w.ByteCount));
            _saved.Add((w, bytes.ToArray()));

            // ΔW (out, in) = (s·B) (out, r) · A (r, in), computed as x·bᵀ with b = Aᵀ (in, r).
            int r = m.Rank, inDim = m.InFeatures, outDim = m.OutFeatures;
            Grow(ref delta, outDim * inDim);
            Grow(ref aT, inDim * r);
            Grow(ref sB, outDim * r);
            for (int j = 0; j < r; j++)
                for (int i = 0; i < inDim; i++) aT[i * r + j] = m.A[j * inDim + i];
            System.Numerics.Tensors.TensorPrimitives.Multiply(m.B, m.Scale, sB.AsSpan(0, outDim * r));
            Gemm.MatMulTransposed(sB.AsSpan(0, outDim * r), outDim, aT.AsSpan(0, inDim * r), inDim, r, delta.AsSpan(0, outDim * inDim));
            AddInPlace(w, delta);
        }
        Merged = adapter;
    }

    public unsafe void Unmerge()
    {
        if (Merged is null) throw new InvalidOperationException("no adapter is merged");
        foreach (var (w, pristine) in _saved) pristine.CopyTo(new Span<byte>((void*)w.Data, pristine.Length));
        _saved.Clear();
        Merged = null;
    }

    public static WeightMatrix Target(LlamaLayerWeights layer, LinearKind kind) => kind switch
    {
        LinearKind.Q => layer.Q,
        LinearKind.K => layer.K,
        LinearKind.V => layer.V,
        LinearKind.O => layer.O,
        LinearKind.Gate => layer.Gate,
        LinearKind.Up => layer.Up,
        LinearKind.Down => layer.Down,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>W += delta, rounding to W's dtype (round-to-nearest-even for BF16, as PyTorch does).</summary>
    private static unsafe void AddInPlace(WeightMatrix w, float[] delta)
    {
        long n = (long)w.Rows * w.Cols;
        switch (w.DType)
        {
            case DType.F32:
                var f = new Span<float>((void*)w.Data, checked((int)n));
                System.Numerics.Tensors.TensorPrimitives.Add(f, delta.AsSpan(0, f.Length), f);
                break;
            case DType.F16:
                var h = (Half*)w.Data;
                for (long i = 0; i < n; i++) h[i] = (Half)((float)h[i] + delta[i]);
                break;
            case DType.BF16:
                var b = (ushort*)w.Data;
                for (long i = 0; i < n; i++) b[i] = BFloat16.FromSingle(BFloat16.ToSingle(b[i]) + delta[i]);
                break;
        }
    }

    private static void Grow(ref float[] buffer, int size)
    {
        if (buffer.Length < size) buffer = new float[size];
    }
}
