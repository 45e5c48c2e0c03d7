using System.Runtime.Intrinsics;
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
    // Pristine bytes of every matrix ever merged into. Between merges the weights are pristine
    // (unmerge restores them), so a copy taken once serves every later merge: a switch then
    // costs the delta computation and one copy back, not an allocation and two copies.
    private readonly Dictionary<WeightMatrix, byte[]> _pristine = new(ReferenceEqualityComparer.Instance);
    private readonly List<WeightMatrix> _touched = [];

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
            if (!_pristine.ContainsKey(w)) _pristine[w] = new Span<byte>((void*)w.Data, checked((int)w.ByteCount)).ToArray();
            _touched.Add(w);

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
        foreach (var w in _touched)
        {
            var pristine = _pristine[w];
            pristine.CopyTo(new Span<byte>((void*)w.Data, pristine.Length));
        }
        _touched.Clear();
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

    /// <summary>W += delta, rounding to W's dtype (round-to-nearest-even for BF16, as PyTorch does); parallel over row blocks.</summary>
    private static unsafe void AddInPlace(WeightMatrix w, float[] delta)
    {
        long n = (long)w.Rows * w.Cols;
        const int chunk = 1 << 16;
        int chunks = (int)((n + chunk - 1) / chunk);
        nint data = w.Data;
        var dtype = w.DType;
        Parallel.For(0, chunks, c =>
        {
            int start = c * chunk, count = (int)Math.Min(chunk, n - start);
            var d = new ReadOnlySpan<float>(delta, start, count);
            switch (dtype)
            {
                case DType.F32:
                    var f = new Span<float>((float*)data + start, count);
                    System.Numerics.Tensors.TensorPrimitives.Add(f, d, f);
                    break;
                case DType.F16:
                    var h = (Half*)data + start;
                    for (int i = 0; i < count; i++) h[i] = (Half)((float)h[i] + d[i]);
                    break;
                case DType.BF16:
                    AddBf16((ushort*)data + start, d);
                    break;
            }
        });
    }

    /// <summary>
    /// bf16 += float, widened by a 16-bit shift and narrowed with round-to-nearest-even
    /// (bits + 0x7FFF + lsb) >> 16 — the same rounding as <see cref="BFloat16.FromSingle"/>, 16 lanes at a time.
    /// </summary>
    private static unsafe void AddBf16(ushort* w, ReadOnlySpan<float> delta)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            fixed (float* dp = delta)
            {
                for (; i + 16 <= delta.Length; i += 16)
                {
                    var wide = Vector512.WidenLower(Vector512.Create(Vector256.Load(w + i), Vector256<ushort>.Zero));
                    var sum = (Vector512.ShiftLeft(wide, 16).AsSingle() + Vector512.Load(dp + i)).AsUInt32();
                    var nan = ~Vector512.Equals(sum.AsSingle(), sum.AsSingle()).AsUInt32();
                    var rounded = Vector512.ShiftRightLogical(sum + Vector512.Create(0x7FFFu) + (Vector512.ShiftRightLogical(sum, 16) & Vector512.Create(1u)), 16);
                    var quiet = Vector512.ShiftRightLogical(sum, 16) | Vector512.Create(0x40u);
                    var result = Vector512.ConditionalSelect(nan, quiet, rounded);
                    Vector256.Store(Vector512.Narrow(result, result).GetLower(), w + i);
                }
            }
        }
        for (; i < delta.Length; i++) w[i] = BFloat16.FromSingle(BFloat16.ToSingle(w[i]) + delta[i]);
    }

    private static void Grow(ref float[] buffer, int size)
    {
        if (buffer.Length < size) buffer = new float[size];
    }
}
