using LoraServe.Core.Kv;

namespace LoraServe.Core.Kernels;

/// <summary>
/// Causal multi-head attention of new tokens against a paged KV cache, with grouped-query
/// heads (query head h reads KV head h / (nHeads / nKvHeads)). PLACEHOLDER: scalar, single-threaded.
/// </summary>
public static unsafe class PagedAttention
{
    /// <summary>
    /// q, output: (totalTokens, nHeads, headDim). Each token at position p attends to positions
    /// max(0, p − slidingWindow + 1) … p of its own sequence (slidingWindow 0 = unlimited).
    /// </summary>
    public static void Forward(ReadOnlySpan<float> q, ReadOnlySpan<AttentionSequence> sequences, PagedKvCache cache, int layer,
        int nHeads, float scale, Span<float> output, int slidingWindow = 0)
    {
        int hd = cache.HeadDim, group = nHeads / cache.NumKvHeads;
        foreach (var s in sequences)
        {
            for (int t = 0; t < s.TokenCount; t++)
            {
                int pos = s.StartPosition + t;
                int first = slidingWindow > 0 ? Math.Max(0, pos - slidingWindow + 1) : 0;
                var scores = new float[pos - first + 1];
                for (int h = 0; h < nHeads; h++)
                {
                    int kvh = h / group;
                    var qh = q.Slice(((s.TokenOffset + t) * nHeads + h) * hd, hd);
                    for (int p = first; p <= pos; p++)
                    {
                        float* kr = cache.Row(layer, false, s.BlockTable[p / cache.BlockSize], p % cache.BlockSize) + kvh * hd;
                        float d = 0;
                        for (int i = 0; i < hd; i++) d += qh[i] * kr[i];
                        scores[p - first] = d * scale;
                    }
                    Softmax.InPlace(scores);
                    var oh = output.Slice(((s.TokenOffset + t) * nHeads + h) * hd, hd);
                    oh.Clear();
                    for (int p = first; p <= pos; p++)
                    {
                        float* vr = cache.Row(layer, true, s.BlockTable[p / cache.BlockSize], p % cache.BlockSize) + kvh * hd;
                        float w = scores[p - first];
                        for (int i = 0; i < hd; i++) oh[i] += w * vr[i];
                    }
                }
            }
        }
    }
}
