using System.Runtime.Intrinsics;
using LoraServe.Core.Threading;

namespace LoraServe.Core.Kernels;

/// <summary>
/// Rotary position embedding, HF rotate_half convention: dimension i pairs with i + headDim/2
/// (not interleaved pairs as in the original paper or llama.cpp's GGUF layout):
/// out[i] = x[i]·cos − x[i+half]·sin, out[i+half] = x[i+half]·cos + x[i]·sin.
/// Angles follow HF LlamaRotaryEmbedding: freqs = position · inv_freq as a float32 product (the
/// rounding at large positions matches HF's), then cos/sin of that float32 angle.
///
/// cos/sin are computed once per position and kept in a table that grows to the largest position
/// seen (as vLLM's cos_sin_cache, but lazily): a decoder calls <see cref="Apply"/> twice per layer
/// with the same positions, and recomputing 64 sin/cos per token per call was ~2 µs per layer of a
/// batch-1 decode step. Not thread-safe (one model drives one instance).
/// </summary>
public sealed unsafe class Rope
{
    private const long ParallelThresholdElements = 1 << 15;
    private const int MinTablePositions = 256;
    private const int MaxTableSlack = 8192;
    private readonly float[] _invFreq;

    /// <summary>cos and sin of position p's angles at [p·HeadDim/2, (p+1)·HeadDim/2) for p &lt; <see cref="_tablePositions"/>.</summary>
    private float[] _cos = [], _sin = [];
    private int _tablePositions;

    public Rope(int headDim, double theta, Llama3RopeScaling? scaling = null)
    {
        if (headDim <= 0 || headDim % 2 != 0) throw new ArgumentException($"head_dim must be positive and even, got {headDim}");
        HeadDim = headDim;
        _invFreq = ComputeInverseFrequencies(headDim, theta, scaling);
    }

    public int HeadDim { get; }

    public ReadOnlySpan<float> InverseFrequencies => _invFreq;

    /// <summary>
    /// inv_freq[i] = theta^(-2i/headDim), adjusted by llama3 scaling when given. The llama3 rule is
    /// HF's _compute_llama3_parameters (modeling_rope_utils.py): with wavelen = 2π/inv_freq,
    /// low_freq_wavelen = original_max_position_embeddings / low_freq_factor and
    /// high_freq_wavelen = original_max_position_embeddings / high_freq_factor:
    /// wavelen &gt; low_freq_wavelen → inv_freq / factor (long wavelengths stretched);
    /// wavelen &lt; high_freq_wavelen → unchanged; otherwise (both bounds inclusive) the blend
    /// (1 − s)·inv_freq/factor + s·inv_freq with s = (original_max / wavelen − low_freq_factor) / (high_freq_factor − low_freq_factor).
    /// </summary>
    public static float[] ComputeInverseFrequencies(int headDim, double theta, Llama3RopeScaling? scaling)
    {
        int half = headDim / 2;
        var inv = new float[half];
        for (int i = 0; i < half; i++)
        {
            double f = 1.0 / Math.Pow(theta, (2.0 * i) / headDim);
            if (scaling is not null)
            {
                double lowFreqWavelen = scaling.OriginalMaxPositionEmbeddings / scaling.LowFreqFactor;
                double highFreqWavelen = scaling.OriginalMaxPositionEmbeddings / scaling.HighFreqFactor;
                double wavelen = 2 * Math.PI / f;
                if (wavelen > lowFreqWavelen) f /= scaling.Factor;
                else if (wavelen >= highFreqWavelen)
                {
                    double smooth = (scaling.OriginalMaxPositionEmbeddings / wavelen - scaling.LowFreqFactor) / (scaling.HighFreqFactor - scaling.LowFreqFactor);
                    f = (1 - smooth) * f / scaling.Factor + smooth * f;
                }
            }
            inv[i] = (float)f;
        }
        return inv;
    }

    /// <summary>
    /// Rotates in place. x: (tokens, heads, HeadDim); positions: (tokens), each ≥ 0. Tokens are spread
    /// over the kernel pool when there are enough.
    /// </summary>
    public void Apply(Span<float> x, ReadOnlySpan<int> positions, int heads)
    {
        int tokens = positions.Length;
        if (heads <= 0) throw new ArgumentOutOfRangeException(nameof(heads), heads, "heads must be positive");
        if (x.Length < (long)tokens * heads * HeadDim) throw new ArgumentException($"x has {x.Length} elements, needs {tokens}x{heads}x{HeadDim}", nameof(x));
        if (tokens == 0) return;
        int maxPosition = 0;
        for (int t = 0; t < tokens; t++)
        {
            if (positions[t] < 0) throw new ArgumentOutOfRangeException(nameof(positions), positions[t], $"position at token {t} is negative");
            maxPosition = Math.Max(maxPosition, positions[t]);
        }
        EnsureTable(maxPosition);
        fixed (float* xp = x)
        fixed (int* pp = positions)
        fixed (float* cos = _cos)
        fixed (float* sin = _sin)
        {
            var job = new Job { X = xp, Positions = pp, Cos = cos, Sin = sin, Heads = heads, HeadDim = HeadDim, Isa = KernelIsa.Current };
            if ((long)tokens * heads * HeadDim < ParallelThresholdElements) for (int t = 0; t < tokens; t++) RunToken(&job, t);
            else KernelThreadPool.Run(&RunToken, &job, tokens);
        }
    }

    /// <summary>
    /// Extends the cos/sin table to cover <paramref name="maxPosition"/>: to twice its size (so a
    /// growing context costs amortised O(1) per position), but never more than
    /// <see cref="MaxTableSlack"/> positions past the one asked for.
    /// </summary>
    private void EnsureTable(int maxPosition)
    {
        if (maxPosition < _tablePositions) return;
        int half = HeadDim / 2;
        long wanted = Math.Max(maxPosition + 1L, Math.Min(Math.Max(MinTablePositions, 2L * _tablePositions), maxPosition + 1L + MaxTableSlack));
        if (wanted * half > Array.MaxLength) throw new ArgumentOutOfRangeException(nameof(maxPosition), maxPosition, "position too large for the rotary table");
        int positions = (int)wanted;
        Array.Resize(ref _cos, positions * half);
        Array.Resize(ref _sin, positions * half);
        for (int p = _tablePositions; p < positions; p++)
        {
            float pos = p;
            for (int i = 0; i < half; i++)
            {
                float angle = pos * _invFreq[i];
                (double s, double c) = Math.SinCos(angle);
                _cos[p * half + i] = (float)c;
                _sin[p * half + i] = (float)s;
            }
        }
        _tablePositions = positions;
    }

    private struct Job
    {
        public float* X, Cos, Sin;
        public int* Positions;
        public int Heads, HeadDim;
        public IsaLevel Isa;
    }

    private static void RunToken(void* state, int t)
    {
        var job = (Job*)state;
        int half = job->HeadDim / 2;
        float* cos = job->Cos + (long)job->Positions[t] * half;
        float* sin = job->Sin + (long)job->Positions[t] * half;
        for (int h = 0; h < job->Heads; h++)
        {
            float* x1 = job->X + ((long)t * job->Heads + h) * job->HeadDim, x2 = x1 + half;
            int i = 0;
            if (job->Isa == IsaLevel.Vector512)
            {
                for (; i + 16 <= half; i += 16)
                {
                    Vector512<float> a = Vector512.Load(x1 + i), b = Vector512.Load(x2 + i), c = Vector512.Load(cos + i), s = Vector512.Load(sin + i);
                    (a * c - b * s).Store(x1 + i);
                    (b * c + a * s).Store(x2 + i);
                }
            }
            else if (job->Isa == IsaLevel.Vector256)
            {
                for (; i + 8 <= half; i += 8)
                {
                    Vector256<float> a = Vector256.Load(x1 + i), b = Vector256.Load(x2 + i), c = Vector256.Load(cos + i), s = Vector256.Load(sin + i);
                    (a * c - b * s).Store(x1 + i);
                    (b * c + a * s).Store(x2 + i);
                }
            }
            for (; i < half; i++)
            {
                float a = x1[i], b = x2[i];
                x1[i] = a * cos[i] - b * sin[i];
                x2[i] = b * cos[i] + a * sin[i];
            }
        }
    }
}
