using System.Runtime.Intrinsics;
using LoraServe.Core.Threading;

namespace LoraServe.Core.Kernels;

/// <summary>
/// Rotary position embedding, HF rotate_half convention: dimension i pairs with i + headDim/2
/// (not interleaved pairs as in the original paper or llama.cpp's GGUF layout):
/// out[i] = x[i]·cos − x[i+half]·sin, out[i+half] = x[i+half]·cos + x[i]·sin.
/// Angles follow HF LlamaRotaryEmbedding: freqs = position · inv_freq as a float32 product (the
/// rounding at large positions matches HF's), then cos/sin of that float32 angle.
/// </summary>
public sealed unsafe class Rope
{
    private const long ParallelThresholdElements = 1 << 15;
    private readonly float[] _invFreq;

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
    /// Rotates in place. x: (tokens, heads, HeadDim); positions: (tokens). Tokens are spread over
    /// the kernel pool when there are enough; each computes its cos/sin once for all its heads.
    /// </summary>
    public void Apply(Span<float> x, ReadOnlySpan<int> positions, int heads)
    {
        int tokens = positions.Length;
        if (heads <= 0) throw new ArgumentOutOfRangeException(nameof(heads), heads, "heads must be positive");
        if (x.Length < (long)tokens * heads * HeadDim) throw new ArgumentException($"x has {x.Length} elements, needs {tokens}x{heads}x{HeadDim}", nameof(x));
        if (tokens == 0) return;
        fixed (float* xp = x)
        fixed (int* pp = positions)
        fixed (float* inv = _invFreq)
        {
            var job = new Job { X = xp, Positions = pp, InvFreq = inv, Heads = heads, HeadDim = HeadDim, Isa = KernelIsa.Current };
            if ((long)tokens * heads * HeadDim < ParallelThresholdElements) for (int t = 0; t < tokens; t++) RunToken(&job, t);
            else KernelThreadPool.Run(&RunToken, &job, tokens);
        }
    }

    private struct Job
    {
        public float* X, InvFreq;
        public int* Positions;
        public int Heads, HeadDim;
        public IsaLevel Isa;
    }

    private static void RunToken(void* state, int t)
    {
        var job = (Job*)state;
        int half = job->HeadDim / 2;
        float* cos = stackalloc float[half];
        float* sin = stackalloc float[half];
        float pos = job->Positions[t];
        for (int i = 0; i < half; i++)
        {
            float angle = pos * job->InvFreq[i];
            (double s, double c) = Math.SinCos(angle);
            cos[i] = (float)c;
            sin[i] = (float)s;
        }
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
