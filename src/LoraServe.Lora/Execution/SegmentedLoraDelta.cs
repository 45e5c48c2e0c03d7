using System.Numerics.Tensors;
using LoraServe.Core.Kernels;
using LoraServe.Lora.Adapters;
using LoraServe.Models.Llama;

namespace LoraServe.Lora.Execution;

/// <summary>
/// Unmerged, heterogeneous LoRA (S-LoRA / Punica style, DESIGN §4): the base projection ran once
/// over all rows; this adds s·(x·Aᵀ)·Bᵀ per adapter segment. Rows of one adapter form one segment
/// (gathered when not contiguous), so each adapter's A and B are read once per projection per
/// step, and every segment uses its own rank — no padding to a maximum rank. Rows with no adapter
/// (the plain base model) are untouched.
/// Reused across steps: <see cref="Configure"/> regroups rows without allocating once warmed up.
/// Not thread-safe; one engine thread owns it.
/// </summary>
public sealed class SegmentedLoraDelta(int maxAdapters = int.MaxValue) : ILinearDelta
{
    private readonly List<Segment> _segments = [];
    private int _used;
    private float[] _shrunk = [];
    private float[] _gatheredX = [];
    private float[] _gatheredY = [];

    private sealed class Segment
    {
        public LoraAdapter Adapter = null!;
        public int[] Rows = new int[8];
        public int Count;
        public bool Contiguous;
    }

    /// <summary>--max-loras: distinct adapters one step may carry (the scheduler keeps to it; this checks).</summary>
    public int MaxAdapters { get; } = maxAdapters > 0 ? maxAdapters : throw new ArgumentOutOfRangeException(nameof(maxAdapters), maxAdapters, "max LoRAs per step must be ≥ 1");

    /// <summary>Distinct adapters in the current step.</summary>
    public int DistinctAdapters => _used;

    public LoraAdapter AdapterAt(int segment) => _segments[segment].Adapter;

    /// <summary>Groups the step's rows by adapter; <paramref name="rowAdapters"/>[i] is row i's adapter or null for base.</summary>
    public void Configure(ReadOnlySpan<LoraAdapter?> rowAdapters)
    {
        _used = 0;
        for (int row = 0; row < rowAdapters.Length; row++)
        {
            var adapter = rowAdapters[row];
            if (adapter is null) continue;
            Segment? seg = null;
            for (int i = 0; i < _used; i++)
                if (ReferenceEquals(_segments[i].Adapter, adapter)) { seg = _segments[i]; break; }
            if (seg is null)
            {
                if (_used == MaxAdapters)
                {
                    _used = 0;
                    throw new ArgumentException($"the step carries more than --max-loras {MaxAdapters} distinct adapters (row {row}: '{adapter.Name}')");
                }
                if (_used == _segments.Count) _segments.Add(new Segment());
                seg = _segments[_used++];
                seg.Adapter = adapter;
                seg.Count = 0;
            }
            if (seg.Count == seg.Rows.Length) Array.Resize(ref seg.Rows, seg.Rows.Length * 2);
            seg.Rows[seg.Count++] = row;
        }
        for (int i = 0; i < _used; i++)
        {
            var s = _segments[i];
            s.Contiguous = s.Rows[s.Count - 1] - s.Rows[0] == s.Count - 1;
        }
    }

    public void Apply(int layer, LinearKind kind, ReadOnlySpan<float> x, Span<float> y, int tokens)
    {
        for (int i = 0; i < _used; i++)
        {
            var seg = _segments[i];
            var m = seg.Adapter.Module(layer, kind);
            if (m is null) continue;
            int n = seg.Count, r = m.Rank, inDim = m.InFeatures, outDim = m.OutFeatures;
            Grow(ref _shrunk, n * r);
            var t = _shrunk.AsSpan(0, n * r);
            ReadOnlySpan<float> xs;
            if (seg.Contiguous) xs = x.Slice(seg.Rows[0] * inDim, n * inDim);
            else
            {
                Grow(ref _gatheredX, n * inDim);
                for (int j = 0; j < n; j++) x.Slice(seg.Rows[j] * inDim, inDim).CopyTo(_gatheredX.AsSpan(j * inDim, inDim));
                xs = _gatheredX.AsSpan(0, n * inDim);
            }
            // shrink: t = x·Aᵀ (n, r); the scale goes on the small t, not on the (n, out) result.
            Gemm.MatMulTransposed(xs, n, m.A, r, inDim, t);
            TensorPrimitives.Multiply(t, m.Scale, t);
            // expand: y += t·Bᵀ (n, out)
            if (seg.Contiguous) Gemm.MatMulTransposed(t, n, m.B, outDim, r, y.Slice(seg.Rows[0] * outDim, n * outDim), accumulate: true);
            else
            {
                Grow(ref _gatheredY, n * outDim);
                var yg = _gatheredY.AsSpan(0, n * outDim);
                Gemm.MatMulTransposed(t, n, m.B, outDim, r, yg);
                for (int j = 0; j < n; j++)
                {
                    var dst = y.Slice(seg.Rows[j] * outDim, outDim);
                    TensorPrimitives.Add(dst, yg.Slice(j * outDim, outDim), dst);
                }
            }
        }
    }

    private static void Grow(ref float[] buffer, int size)
    {
        if (buffer.Length < size) buffer = new float[Math.Max(size, buffer.Length * 2)];
    }
}
