using LoraServe.Models.Llama;
using LoraServe.Testing;
using LoraServe.Training.Model;
using LoraServe.Training.Optim;

namespace LoraServe.Training.Tests.Optim;

public sealed class OptimizerTests
{
    [Fact]
    public void AdamW_two_steps_match_hand_computed_values()
    {
        // Hand derivation (lr 0.1, λ 0.01, β 0.9/0.999, ε 1e-8), element 0:
        // step 1, g = 0.5: p = 1·(1 − 0.001) = 0.999; m = 0.05, v = 0.00025; m̂ = 0.5, v̂ = 0.25;
        //   p = 0.999 − 0.1·0.5/(0.5 + 1e-8) = 0.899000002.
        // step 2, g = 0.2: p = 0.899000002·0.999 = 0.898101002; m = 0.065, v = 0.00028975;
        //   m̂ = 0.065/0.19 = 0.342105263, v̂ = 0.00028975/0.001999 = 0.144947474;
        //   p = 0.898101002 − 0.1·0.342105263/(0.380719679 + 1e-8) = 0.808243484.
        // Element 1 the same way with g = −0.1 then 0.3: −1.898000010, then −1.945520991.
        var t = new TrainableTensor("p", [1.0f, -2.0f], [0.5f, -0.1f], [2]);
        var opt = new AdamW([t], weightDecay: 0.01);
        opt.Step(0.1);
        Near(0.899000002, t.Values[0]);
        Near(-1.898000010, t.Values[1]);
        t.Grad[0] = 0.2f;
        t.Grad[1] = 0.3f;
        opt.Step(0.1);
        Near(0.808243484, t.Values[0]);
        Near(-1.945520991, t.Values[1]);
        Assert.Equal(0.065, opt.FirstMoments[0][0], 6);
        Assert.Equal(0.00028975, opt.SecondMoments[0][0], 9);
    }

    /// <summary>Within 2 float32 ulps of the hand value: the update itself runs in float32 as torch's does.</summary>
    private static void Near(double expected, float actual) =>
        Assert.True(Math.Abs(actual - expected) <= 2.5e-7 * Math.Max(1, Math.Abs(expected)), $"expected {expected:G9}, got {actual:G9}");

    [Fact]
    public void Schedule_warms_up_linearly_then_decays_by_cosine_to_zero()
    {
        var s = new LearningRateSchedule(1.0, WarmupSteps: 4, TotalSteps: 14);
        Assert.Equal(0.25, s.At(1), 12);
        Assert.Equal(1.0, s.At(4), 12);
        Assert.Equal(0.5, s.At(9), 12); // halfway through the 10 decay steps: cos(π/2) → 0.5
        Assert.Equal(0.0, s.At(14), 12);
    }

    [Fact]
    public void Clipping_scales_to_the_global_norm_over_all_tensors()
    {
        var a = new TrainableTensor("a", new float[2], [3f, 0f], [2]);
        var b = new TrainableTensor("b", new float[1], [4f], [1]);
        double norm = GradientClipping.ClipGlobalNorm([a, b], 1.0);
        Assert.Equal(5.0, norm, 12);
        Assert.Equal(0.6f, a.Grad[0], 5);
        Assert.Equal(0.8f, b.Grad[0], 5);
    }

    [Fact]
    public void Peft_init_draws_A_from_kaiming_uniform_bound_and_zeroes_B()
    {
        var config = InMemoryModel.TinyConfig(hidden: 48);
        var lora = new LoraSet(config, [LinearKind.Q, LinearKind.Down], rank: 8, alpha: 16, useRsLora: false);
        PeftInitialization.Initialize(lora, new TrainingRng(3));
        foreach (var m in lora.Modules)
        {
            double bound = 1 / Math.Sqrt(m.InFeatures);
            Assert.All(m.B, b => Assert.Equal(0f, b));
            Assert.All(m.A, a => Assert.InRange(a, -bound, bound));
            // U(−b, b) has variance b²/3; with ≥ 384 draws the sample variance is within 25%.
            double variance = m.A.Select(a => (double)a * a).Average();
            Assert.InRange(variance, 0.75 * bound * bound / 3, 1.25 * bound * bound / 3);
        }
        Assert.Equal(2.0f, lora.Modules[0].Scale);
    }

    [Fact]
    public void Rng_permutation_is_a_permutation_and_reproducible_from_its_state()
    {
        var rng = new TrainingRng(7);
        var saved = rng.State;
        var p = rng.Permutation(100);
        Assert.Equal(Enumerable.Range(0, 100), p.Order());
        Assert.Equal(p, new TrainingRng(saved).Permutation(100));
    }
}
