using LoraServe.Core.Kernels;
using LoraServe.Core.Threading;

namespace LoraServe.Training.Kernels;

/// <summary>
/// RoPE forward and backward (HF rotate_half: dimension i pairs with i + headDim/2). The forward
/// rotates each pair by angle θ = pos·inv_freq[i]; a rotation is orthogonal, so the backward
/// rotates the gradient by −θ. Angles are computed exactly as the inference <see cref="Rope"/>
/// does (float32 product, then SinCos) and tabulated once per position, so a trained adapter sees
/// the same numbers at training and serving time.
/// </summary>
public sealed unsafe class RopeTraining
{
    private readonly float[] _cos, _sin;
    private readonly int _half;

    public RopeTraining(int headDim, double theta, Llama3RopeScaling? scaling, int maxPositions)
    {
        HeadDim = headDim;
        MaxPositions = maxPositions;
        _half = headDim / 2;
        var inv = Rope.ComputeInverseFrequencies(headDim, theta, scaling);
        _cos = new float[maxPositions * _half];
        _sin = new float[maxPositions * _half];
        for (int p = 0; p < maxPositions; p++)
            for (int i = 0; i < _half; i++)
            {
                float angle = (float)p * inv[i];
                (double s, double c) = Math.SinCos(angle);
                _cos[p * _half + i] = (float)c;
                _sin[p * _half + i] = (float)s;
            }
    }

    public int HeadDim { get; }
    public int MaxPositions { get; }

    /// <summary>Rotates x: (tokens, heads, HeadDim) in place by +θ; positions: (tokens), each &lt; MaxPositions.</summary>
    public void Forward(Span<float> x, ReadOnlySpan<int> positions, int heads) => Run(x, positions, heads, 1f);

    /// <summary>dx: (tokens, heads, HeadDim), in place: the gradient before the rotation is R(−θ)·dout.</summary>
    public void Backward(Span<float> dx, ReadOnlySpan<int> positions, int heads) => Run(dx, positions, heads, -1f);

    private void Run(Span<float> x, ReadOnlySpan<int> positions, int heads, float direction)
    {
        int tokens = positions.Length;
        if (x.Length < (long)tokens * heads * HeadDim) throw new ArgumentException($"x has {x.Length} elements, needs {tokens}x{heads}x{HeadDim}", nameof(x));
        foreach (int p in positions)
            if ((uint)p >= (uint)MaxPositions) throw new ArgumentOutOfRangeException(nameof(positions), p, $"position outside the table of {MaxPositions}");
        fixed (float* xp = x) fixed (int* pp = positions) fixed (float* c = _cos) fixed (float* s = _sin)
        {
            var job = new Job { X = xp, Positions = pp, Cos = c, Sin = s, Heads = heads, Half = _half, Direction = direction };
            if ((long)tokens * heads * HeadDim < 1 << 15) for (int t = 0; t < tokens; t++) Token(&job, t);
            else KernelThreadPool.Run(&Token, &job, tokens);
        }
    }

    private struct Job
    {
        public float* X, Cos, Sin;
        public int* Positions;
        public int Heads, Half;
        public float Direction;
    }

    private static void Token(void* state, int t)
    {
        var j = (Job*)state;
        int half = j->Half;
        float* cos = j->Cos + (long)j->Positions[t] * half, sin = j->Sin + (long)j->Positions[t] * half;
        float dir = j->Direction;
        for (int h = 0; h < j->Heads; h++)
        {
            float* x1 = j->X + ((long)t * j->Heads + h) * 2 * half, x2 = x1 + half;
            for (int i = 0; i < half; i++)
            {
                float a = x1[i], b = x2[i], c = cos[i], s = dir * sin[i];
                x1[i] = a * c - b * s;
                x2[i] = b * c + a * s;
            }
        }
    }
}
