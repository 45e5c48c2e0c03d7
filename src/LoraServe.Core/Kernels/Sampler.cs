using System.Runtime.Intrinsics;

namespace LoraServe.Core.Kernels;

/// <summary>
/// Picks a token from one row of logits without allocating (scratch is per thread and only grows).
/// Order of filters follows HF/vLLM: temperature, then top-k, then top-p on the top-k survivors
/// renormalised (HF's TopPLogitsWarper sees the top-k-masked logits).
///
/// Top-k uses a partial selection (quickselect, O(V)); the survivors need no order unless top-p
/// follows. Top-p needs the sorted prefix holding ≥ top_p of the mass; it is usually short, so we
/// select the top 64, sort them, check the mass, and grow ×8 until it is enough instead of sorting
/// the whole vocabulary.
/// Ties in value are ordered by ascending token id, so results do not depend on the selection's
/// internal order; top-k therefore keeps exactly k tokens (vLLM's rank cut), where HF's
/// TopKLogitsWarper would also keep every token tied with the k-th logit.
/// </summary>
public static unsafe class Sampler
{
    private const int FirstTopPCandidates = 64;

    [ThreadStatic] private static Candidate[]? _candidates;
    [ThreadStatic] private static float[]? _weights;

    /// <summary>
    /// Returns the chosen token; <paramref name="logProb"/> receives its natural-log probability under
    /// softmax of the raw (unscaled, unfiltered) logits, as vLLM reports by default.
    /// Temperature 0 is greedy (argmax, the lowest id on ties). Exactly one rng.NextDouble() is drawn
    /// per non-greedy call, so a seeded Random reproduces a sequence of samples.
    /// </summary>
    public static int Sample(ReadOnlySpan<float> logits, SamplingParams p, Random rng, out float logProb)
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentNullException.ThrowIfNull(rng);
        if (logits.IsEmpty) throw new ArgumentException("logits are empty", nameof(logits));
        int chosen;
        int vocab = logits.Length;
        int k = p.TopK > 0 ? Math.Min(p.TopK, vocab) : vocab;
        if (p.Temperature == 0f || k == 1) chosen = ArgMax(logits);
        else if (k == vocab && p.TopP >= 1f) chosen = SampleFull(logits, p.Temperature, rng);
        else chosen = SampleFiltered(logits, p.Temperature, k, p.TopP, rng);
        logProb = (float)(logits[chosen] - Softmax.LogSumExp(logits));
        return chosen;
    }

    /// <summary>Index of the largest value; the lowest index among equal maxima.</summary>
    public static int ArgMax(ReadOnlySpan<float> x)
    {
        fixed (float* p = x)
        {
            float max = VectorMath.Max(p, x.Length, KernelIsa.Current);
            int i = 0;
            if (KernelIsa.Current == IsaLevel.Vector512)
            {
                var m = Vector512.Create(max);
                for (; i + 16 <= x.Length; i += 16)
                {
                    uint bits = (uint)Vector512.Equals(Vector512.Load(p + i), m).ExtractMostSignificantBits();
                    if (bits != 0) return i + System.Numerics.BitOperations.TrailingZeroCount(bits);
                }
            }
            for (; i < x.Length; i++) if (p[i] == max) return i;
            return 0; // all NaN: nothing compares equal; token 0 as HF's argmax of an all-NaN row would be arbitrary too
        }
    }

    /// <summary>Draws from softmax(logits / T) over the whole vocabulary in token order: no selection needed.</summary>
    private static int SampleFull(ReadOnlySpan<float> logits, float temperature, Random rng)
    {
        int vocab = logits.Length;
        var weights = Weights(vocab);
        float invT = 1f / temperature;
        fixed (float* l = logits)
        fixed (float* w = weights)
        {
            var isa = KernelIsa.Current;
            float max = VectorMath.Max(l, vocab, isa);
            Buffer.MemoryCopy(l, w, (long)vocab * sizeof(float), (long)vocab * sizeof(float));
            VectorMath.Scale(w, vocab, invT, isa);
            VectorMath.ExpShiftedInPlace(w, vocab, max * invT, isa);
            double total = 0;
            for (int i = 0; i < vocab; i++) total += w[i];
            double u = rng.NextDouble() * total;
            for (int i = 0; i < vocab; i++)
            {
                u -= w[i];
                if (u < 0) return i;
            }
            // Rounding left u ≥ 0 after the last token: take the last token with non-zero weight.
            for (int i = vocab - 1; i > 0; i--) if (w[i] > 0) return i;
            return 0;
        }
    }

    private static int SampleFiltered(ReadOnlySpan<float> logits, float temperature, int k, float topP, Random rng)
    {
        int vocab = logits.Length;
        var all = Candidates(vocab);
        for (int i = 0; i < vocab; i++) all[i] = new Candidate(logits[i], i);
        var span = all.AsSpan(0, vocab);
        double invT = 1.0 / temperature;

        // The top-k set first (unsorted), then work inside it.
        if (k < vocab)
        {
            SelectTop(span, k);
            span = span.Slice(0, k);
        }
        // Largest scaled logit of the set: the shift that keeps every exp ≤ 1.
        float maxLogit = float.NegativeInfinity;
        foreach (var c in span) if (c.Logit > maxLogit) maxLogit = c.Logit;
        double max = maxLogit * invT;
        int keep = span.Length;
        if (topP < 1f)
        {
            // Mass of the top-k set, to normalise as HF's softmax over the masked logits does.
            double kMass = 0;
            foreach (var c in span) kMass += Math.Exp(c.Logit * invT - max);
            // Grow the sorted prefix until it holds ≥ top_p of the mass.
            int sorted = Math.Min(k, FirstTopPCandidates);
            while (true)
            {
                SelectTop(span, sorted);
                Sort(span.Slice(0, sorted));
                double cumulative = 0;
                keep = -1;
                for (int i = 0; i < sorted; i++)
                {
                    cumulative += Math.Exp(span[i].Logit * invT - max) / kMass;
                    if (cumulative >= topP) { keep = i + 1; break; }
                }
                if (keep > 0) break;
                if (sorted == k) { keep = k; break; }
                sorted = (int)Math.Min(k, sorted * 8L);
            }
        }
        // Top-k alone needs no order: the draw below scans the (deterministically) selected set.

        double total = 0;
        for (int i = 0; i < keep; i++) total += Math.Exp(span[i].Logit * invT - max);
        double u = rng.NextDouble() * total;
        for (int i = 0; i < keep; i++)
        {
            u -= Math.Exp(span[i].Logit * invT - max);
            if (u < 0) return span[i].Token;
        }
        return span[keep - 1].Token;
    }

    /// <summary>
    /// Rearranges <paramref name="items"/> so its first <paramref name="count"/> entries are the
    /// largest (in <see cref="CandidateOrder"/>), in no particular order. Hoare quickselect with a
    /// median-of-three pivot: expected O(n).
    /// </summary>
    private static void SelectTop(Span<Candidate> items, int count)
    {
        if (count >= items.Length) return;
        int lo = 0, hi = items.Length - 1, target = count - 1;
        while (hi > lo)
        {
            var (i, j) = Partition(items, lo, hi);
            if (target <= j) hi = j;
            else if (target >= i) lo = i;
            else return;
        }
    }

    /// <summary>
    /// Hoare partition of items[lo..hi] around a median-of-three pivot, shared by the top-k
    /// selection and the sort: afterwards items[lo..j] ≤ pivot ≤ items[i..hi] and j &lt; i.
    /// </summary>
    private static (int I, int J) Partition(Span<Candidate> items, int lo, int hi)
    {
        var order = default(CandidateOrder);
        int mid = lo + (hi - lo) / 2;
        if (order.Compare(items[mid], items[lo]) < 0) (items[mid], items[lo]) = (items[lo], items[mid]);
        if (order.Compare(items[hi], items[lo]) < 0) (items[hi], items[lo]) = (items[lo], items[hi]);
        if (order.Compare(items[hi], items[mid]) < 0) (items[hi], items[mid]) = (items[mid], items[hi]);
        var pivot = items[mid];
        int i = lo, j = hi;
        while (i <= j)
        {
            while (order.Compare(items[i], pivot) < 0) i++;
            while (order.Compare(items[j], pivot) > 0) j--;
            if (i <= j)
            {
                (items[i], items[j]) = (items[j], items[i]);
                i++;
                j--;
            }
        }
        return (i, j);
    }

    /// <summary>
    /// Sorts by <see cref="CandidateOrder"/>: quicksort (median of three) with insertion sort below 16
    /// elements. Hand-written because MemoryExtensions.Sort boxes a struct comparer (88 bytes a call).
    /// </summary>
    private static void Sort(Span<Candidate> items)
    {
        var order = default(CandidateOrder);
        while (items.Length > 16)
        {
            var (i, j) = Partition(items, 0, items.Length - 1);
            // Recurse into the smaller side, loop on the larger: O(log n) stack.
            if (j + 1 < items.Length - i)
            {
                Sort(items.Slice(0, j + 1));
                items = items.Slice(i);
            }
            else
            {
                Sort(items.Slice(i));
                items = items.Slice(0, j + 1);
            }
        }
        for (int a = 1; a < items.Length; a++)
        {
            var item = items[a];
            int b = a - 1;
            while (b >= 0 && order.Compare(item, items[b]) < 0)
            {
                items[b + 1] = items[b];
                b--;
            }
            items[b + 1] = item;
        }
    }

    private static Candidate[] Candidates(int vocab)
    {
        var c = _candidates;
        if (c is null || c.Length < vocab) _candidates = c = new Candidate[vocab];
        return c;
    }

    private static float[] Weights(int vocab)
    {
        var w = _weights;
        if (w is null || w.Length < vocab) _weights = w = new float[vocab];
        return w;
    }

    private readonly record struct Candidate(float Logit, int Token);

    /// <summary>"Less" means ranked earlier: larger logit first, then smaller token id. NaN ranks last.</summary>
    private readonly struct CandidateOrder : IComparer<Candidate>
    {
        public int Compare(Candidate a, Candidate b)
        {
            float x = float.IsNaN(a.Logit) ? float.NegativeInfinity : a.Logit;
            float y = float.IsNaN(b.Logit) ? float.NegativeInfinity : b.Logit;
            if (x > y) return -1;
            if (x < y) return 1;
            return a.Token.CompareTo(b.Token);
        }
    }
}
