namespace LoraServe.Core.Kernels;

/// <summary>
/// Picks a token from one row of logits. PLACEHOLDER: allocates; to be replaced by a
/// partial-sort top-k/top-p kernel working in preallocated scratch.
/// Order of filters follows HF/vLLM: temperature, then top-k, then top-p.
/// </summary>
public static class Sampler
{
    /// <summary>
    /// Returns the chosen token; <paramref name="logProb"/> receives its natural-log probability under
    /// softmax of the raw (unscaled, unfiltered) logits, as vLLM reports by default.
    /// </summary>
    public static int Sample(ReadOnlySpan<float> logits, SamplingParams p, Random rng, out float logProb)
    {
        int chosen;
        if (p.Temperature == 0f)
        {
            chosen = 0;
            for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[chosen]) chosen = i;
        }
        else
        {
            var idx = new int[logits.Length];
            for (int i = 0; i < idx.Length; i++) idx[i] = i;
            var arr = logits.ToArray();
            Array.Sort(idx, (a, b) => arr[b].CompareTo(arr[a]) != 0 ? arr[b].CompareTo(arr[a]) : a.CompareTo(b));
            int k = p.TopK > 0 ? Math.Min(p.TopK, idx.Length) : idx.Length;
            var probs = new double[k];
            double max = arr[idx[0]] / p.Temperature, sum = 0;
            for (int i = 0; i < k; i++) { probs[i] = Math.Exp(arr[idx[i]] / p.Temperature - max); sum += probs[i]; }
            int keep = k;
            if (p.TopP < 1f)
            {
                double cum = 0;
                for (int i = 0; i < k; i++) { cum += probs[i] / sum; if (cum >= p.TopP) { keep = i + 1; break; } }
            }
            double total = 0;
            for (int i = 0; i < keep; i++) total += probs[i];
            double u = rng.NextDouble() * total;
            chosen = idx[keep - 1];
            for (int i = 0; i < keep; i++) { u -= probs[i]; if (u <= 0) { chosen = idx[i]; break; } }
        }
        logProb = (float)(logits[chosen] - Softmax.LogSumExp(logits));
        return chosen;
    }
}
