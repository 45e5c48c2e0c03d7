namespace LoraServe.Models.Creation;

/// <summary>
/// Counter-based normal samples: value i of a stream is a pure function of (seed, stream, i), so
/// any chunk of a tensor can be generated independently and a model written as one file or as N
/// shards holds bit-identical weights. SplitMix64 (Steele et al., 2014) mixes the counter; a
/// Box–Muller transform turns two uniforms into one N(0, 1).
/// </summary>
internal static class CounterNormal
{
    /// <summary>A stream id for a tensor name (FNV-1a), stable across runs and .NET versions, unlike string.GetHashCode.</summary>
    public static ulong StreamOf(int seed, string name)
    {
        ulong hash = 14695981039346656037UL ^ (ulong)(uint)seed;
        foreach (char c in name)
        {
            hash ^= c;
            hash *= 1099511628211UL;
        }
        return Mix(hash);
    }

    /// <summary>destination[k] = mean + std · N(0,1) sample number (start + k) of <paramref name="stream"/>.</summary>
    public static void Fill(ulong stream, long start, Span<float> destination, float mean, float std)
    {
        for (int k = 0; k < destination.Length; k++)
        {
            ulong counter = stream + 2 * (ulong)(start + k) * 0x9E3779B97F4A7C15UL;
            // 53-bit uniforms in (0, 1]: u1 never 0, so the log is finite.
            double u1 = ((Mix(counter) >> 11) + 1) * (1.0 / (1UL << 53));
            double u2 = (Mix(counter + 0x9E3779B97F4A7C15UL) >> 11) * (1.0 / (1UL << 53));
            double z = Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
            destination[k] = (float)(mean + std * z);
        }
    }

    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
