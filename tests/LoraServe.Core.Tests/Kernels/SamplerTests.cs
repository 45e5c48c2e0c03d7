using LoraServe.Core.Kernels;
using LoraServe.Core.Tests.Infrastructure;

namespace LoraServe.Core.Tests.Kernels;

public sealed class SamplerTests
{
    public static TheoryData<IsaLevel> Isas() => IsaScope.Available();

    [Theory]
    [MemberData(nameof(Isas))]
    public void Greedy_takes_the_lowest_index_among_ties(IsaLevel isa)
    {
        using var scope = new IsaScope(isa);
        var logits = new float[100];
        logits[3] = -1;
        logits[41] = 7;
        logits[77] = 7;
        logits[99] = 7;
        Assert.Equal(41, Sampler.Sample(logits, SamplingParams.Greedy, new Random(1), out _));
        logits[17] = 7;
        Assert.Equal(17, Sampler.Sample(logits, SamplingParams.Greedy, new Random(1), out _));
    }

    [Fact]
    public void Top_k_one_and_tiny_top_p_equal_greedy()
    {
        for (int seed = 0; seed < 50; seed++)
        {
            var logits = TensorCheck.Random(1000 + seed, seed, range: 5);
            int greedy = Sampler.Sample(logits, SamplingParams.Greedy, new Random(seed), out _);
            Assert.Equal(greedy, Sampler.Sample(logits, new SamplingParams(Temperature: 1.3f, TopK: 1), new Random(seed), out _));
            Assert.Equal(greedy, Sampler.Sample(logits, new SamplingParams(Temperature: 0.8f, TopP: 1e-6f), new Random(seed), out _));
            Assert.Equal(greedy, Sampler.Sample(logits, new SamplingParams(Temperature: 2f, TopP: 1e-6f, TopK: 50), new Random(seed), out _));
        }
    }

    [Fact]
    public void Logprob_is_float64_log_softmax_of_raw_logits()
    {
        var logits = TensorCheck.Random(49152, 5, range: 12);
        logits[123] = 40;
        double max = logits.Max(), sum = 0;
        foreach (float l in logits) sum += Math.Exp(l - max);
        double lse = max + Math.Log(sum);
        foreach (var p in new[] { SamplingParams.Greedy, new SamplingParams(Temperature: 0.5f, TopP: 0.9f, TopK: 20), new SamplingParams(Temperature: 3f) })
        {
            int token = Sampler.Sample(logits, p, new Random(3), out float logProb);
            Assert.Equal(logits[token] - lse, logProb, 1e-5);
        }
    }

    [Fact]
    public void Same_seed_gives_same_tokens()
    {
        var logits = TensorCheck.Random(5000, 11, range: 3);
        var p = new SamplingParams(Temperature: 1f, TopP: 0.95f, TopK: 100);
        var a = new Random(1234);
        var b = new Random(1234);
        var first = new int[200];
        for (int i = 0; i < first.Length; i++) first[i] = Sampler.Sample(logits, p, a, out _);
        for (int i = 0; i < first.Length; i++) Assert.Equal(first[i], Sampler.Sample(logits, p, b, out _));
        Assert.True(first.Distinct().Count() > 1, "samples should vary within a sequence");
    }

    public static TheoryData<float, float, int> Filters() => new()
    {
        { 1f, 1f, 0 },       // plain softmax: the no-selection path
        { 0.7f, 1f, 5 },     // top-k only
        { 1.3f, 0.8f, 0 },   // top-p only
        { 0.9f, 0.75f, 6 },  // both: top-p applies to the renormalised top-k set
    };

    /// <summary>
    /// 40 000 draws with a fixed seed against the filtered softmax computed independently here (a full
    /// sort, HF's TopK then TopP warpers); Pearson's χ² must be below the 99.9% quantile for its
    /// degrees of freedom (≤ 11 here: 31.3), and filtered-out tokens must never appear.
    /// </summary>
    [Theory]
    [MemberData(nameof(Filters))]
    public void Sample_frequencies_match_the_filtered_softmax(float temperature, float topP, int topK)
    {
        float[] logits = [2.0f, 1.5f, 1.4f, 0.3f, -0.2f, 1.5f, 0.9f, -1.0f, 0.0f, 2.2f, 0.6f, -0.5f];
        var expected = FilteredDistribution(logits, temperature, topP, topK);
        const int draws = 40_000;
        var counts = new int[logits.Length];
        var rng = new Random(20241128);
        var p = new SamplingParams(temperature, topP, topK);
        for (int i = 0; i < draws; i++) counts[Sampler.Sample(logits, p, rng, out _)]++;
        double chi2 = 0;
        int kept = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            if (expected[i] == 0)
            {
                Assert.True(counts[i] == 0, $"token {i} was filtered out but drawn {counts[i]} times");
                continue;
            }
            kept++;
            double e = expected[i] * draws;
            chi2 += (counts[i] - e) * (counts[i] - e) / e;
        }
        Assert.True(kept >= 2, "the filter should keep several tokens for the test to mean something");
        Assert.True(chi2 < 31.3, $"χ² = {chi2:F1} over {kept} kept tokens; counts {string.Join(",", counts)}");
    }

    [Fact]
    public void Top_p_on_a_large_vocabulary_draws_only_from_the_nucleus()
    {
        var logits = TensorCheck.Random(50_000, 77, range: 8);
        var expected = FilteredDistribution(logits, 1f, 0.5f, 0);
        int nucleus = expected.Count(v => v > 0);
        Assert.InRange(nucleus, 65, 49_000); // larger than the sampler's first 64-candidate guess
        var rng = new Random(5);
        var p = new SamplingParams(1f, 0.5f, 0);
        for (int i = 0; i < 300; i++)
        {
            int token = Sampler.Sample(logits, p, rng, out _);
            Assert.True(expected[token] > 0, $"token {token} is outside the top-p nucleus");
        }
    }

    /// <summary>HF semantics by brute force: sort descending (ties by id), keep top-k, softmax, keep the smallest prefix with mass ≥ top_p.</summary>
    private static double[] FilteredDistribution(float[] logits, float temperature, float topP, int topK)
    {
        var order = Enumerable.Range(0, logits.Length).OrderByDescending(i => logits[i]).ThenBy(i => i).ToArray();
        int k = topK > 0 ? Math.Min(topK, logits.Length) : logits.Length;
        var probs = new double[k];
        double max = logits[order[0]] / (double)temperature, sum = 0;
        for (int i = 0; i < k; i++) sum += probs[i] = Math.Exp(logits[order[i]] / (double)temperature - max);
        int keep = k;
        double cumulative = 0;
        for (int i = 0; i < k; i++)
        {
            cumulative += probs[i] / sum;
            if (cumulative >= topP) { keep = i + 1; break; }
        }
        double keptMass = 0;
        for (int i = 0; i < keep; i++) keptMass += probs[i];
        var result = new double[logits.Length];
        for (int i = 0; i < keep; i++) result[order[i]] = probs[i] / keptMass;
        return result;
    }
}
