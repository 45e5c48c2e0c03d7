namespace LoraServe.Training.Optim;

/// <summary>
/// SplitMix64 (Steele, Lea &amp; Flood 2014): a generator whose whole state is one 64-bit word, so a
/// checkpoint stores it exactly and a resumed run draws the same numbers. System.Random's state
/// cannot be saved.
/// </summary>
public sealed class TrainingRng(ulong state)
{
    public ulong State { get; private set; } = state;

    public ulong NextUInt64()
    {
        ulong z = State += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, n) (Lemire's multiply-shift; the bias for n ≪ 2⁶⁴ is negligible).</summary>
    public int NextInt(int n) => (int)(((UInt128)NextUInt64() * (ulong)n) >> 64);

    /// <summary>A Fisher–Yates permutation of 0 … n−1.</summary>
    public int[] Permutation(int n)
    {
        var p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        for (int i = n - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (p[i], p[j]) = (p[j], p[i]);
        }
        return p;
    }
}
