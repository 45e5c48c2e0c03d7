namespace LoraServe.Core.Kernels;

/// <summary>
/// Rotary position embedding, HF rotate_half convention: dimension i pairs with i + headDim/2
/// (not interleaved pairs as in the original paper or llama.cpp's GGUF layout).
/// </summary>
public sealed class Rope
{
    private readonly float[] _invFreq;

    public Rope(int headDim, double theta, Llama3RopeScaling? scaling = null)
    {
        if (headDim <= 0 || headDim % 2 != 0) throw new ArgumentException($"head_dim must be positive and even, got {headDim}");
        HeadDim = headDim;
        _invFreq = ComputeInverseFrequencies(headDim, theta, scaling);
    }

    public int HeadDim { get; }

    public ReadOnlySpan<float> InverseFrequencies => _invFreq;

    /// <summary>inv_freq[i] = theta^(-2i/headDim), adjusted by llama3 scaling when given.</summary>
    public static float[] ComputeInverseFrequencies(int headDim, double theta, Llama3RopeScaling? scaling)
    {
        int half = headDim / 2;
        var inv = new float[half];
        for (int i = 0; i < half; i++)
        {
            // HF computes inv_freq in float32 from an int64 arange: 1 / theta ** (2i / dim).
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
    /// Rotates in place. x: (tokens, heads, HeadDim); positions: (tokens).
    /// </summary>
    public void Apply(Span<float> x, ReadOnlySpan<int> positions, int heads)
    {
        int half = HeadDim / 2;
        for (int t = 0; t < positions.Length; t++)
        {
            int pos = positions[t];
            for (int i = 0; i < half; i++)
            {
                double angle = (double)pos * _invFreq[i];
                float c = (float)Math.Cos(angle), s = (float)Math.Sin(angle);
                for (int h = 0; h < heads; h++)
                {
                    int b = (t * heads + h) * HeadDim;
                    float x1 = x[b + i], x2 = x[b + i + half];
                    x[b + i] = x1 * c - x2 * s;
                    x[b + i + half] = x2 * c + x1 * s;
                }
            }
        }
    }
}
