using LoraServe.Core.Kernels;
using LoraServe.Engine.Requests;

namespace LoraServe.Engine.Execution;

/// <summary>
/// The n most likely tokens of one logits row with their log-softmax values (vLLM's logprobs=n).
/// A single pass keeping a sorted array of n (n ≤ 20), so O(vocab·n) worst case and usually close
/// to O(vocab); ties order by ascending token id like <see cref="Sampler"/>.
/// </summary>
internal static class TopLogprobs
{
    public static TokenLogprob[] Compute(ReadOnlySpan<float> logits, int n)
    {
        n = Math.Min(n, logits.Length);
        var ids = new int[n];
        var values = new float[n];
        int count = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            float v = logits[i];
            if (count == n && !(v > values[n - 1])) continue;
            int pos = count < n ? count++ : n - 1;
            while (pos > 0 && v > values[pos - 1])
            {
                values[pos] = values[pos - 1];
                ids[pos] = ids[pos - 1];
                pos--;
            }
            values[pos] = v;
            ids[pos] = i;
        }
        double logZ = Softmax.LogSumExp(logits);
        var result = new TokenLogprob[n];
        for (int i = 0; i < n; i++) result[i] = new TokenLogprob(ids[i], (float)(values[i] - logZ));
        return result;
    }
}
