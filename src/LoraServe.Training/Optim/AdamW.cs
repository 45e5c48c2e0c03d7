using LoraServe.Training.Model;

namespace LoraServe.Training.Optim;

/// <summary>
/// AdamW (Loshchilov &amp; Hutter 2019) exactly as torch.optim.AdamW computes it: decoupled weight
/// decay p ← p·(1 − lr·λ) first, then m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g²,
/// p ← p − lr·(m / (1 − β1ᵗ)) / (√(v / (1 − β2ᵗ)) + ε). Moments are float32 like torch's; the
/// bias corrections are computed in double once per step.
/// </summary>
public sealed class AdamW
{
    public AdamW(IReadOnlyList<TrainableTensor> parameters, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8, double weightDecay = 0.0)
    {
        Parameters = parameters;
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
        WeightDecay = weightDecay;
        FirstMoments = parameters.Select(p => new float[p.Values.Length]).ToArray();
        SecondMoments = parameters.Select(p => new float[p.Values.Length]).ToArray();
    }

    public IReadOnlyList<TrainableTensor> Parameters { get; }
    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Epsilon { get; }
    public double WeightDecay { get; }

    /// <summary>Optimizer steps taken (t in the bias corrections); restored from checkpoints.</summary>
    public long StepCount { get; set; }

    /// <summary>exp_avg per parameter, same order as <see cref="Parameters"/>.</summary>
    public float[][] FirstMoments { get; }

    /// <summary>exp_avg_sq per parameter.</summary>
    public float[][] SecondMoments { get; }

    /// <summary>Applies one update with learning rate <paramref name="lr"/> from the current gradients.</summary>
    public void Step(double lr)
    {
        StepCount++;
        double bc1 = 1 - Math.Pow(Beta1, StepCount), bc2 = 1 - Math.Pow(Beta2, StepCount);
        // 1 − β in double, then rounded once (as torch passes the Python float 1 − β2 to addcmul_):
        // (1 − (float)0.999) would be 0.00099998713, off by 1e-5 relative.
        float b1 = (float)Beta1, b2 = (float)Beta2, c1 = (float)(1 - Beta1), c2 = (float)(1 - Beta2), decay = (float)(1 - lr * WeightDecay);
        float stepSize = (float)(lr / bc1), sqrtBc2 = (float)Math.Sqrt(bc2), eps = (float)Epsilon;
        for (int n = 0; n < Parameters.Count; n++)
        {
            var p = Parameters[n].Values;
            var g = Parameters[n].Grad;
            var m = FirstMoments[n];
            var v = SecondMoments[n];
            for (int i = 0; i < p.Length; i++)
            {
                float gi = g[i];
                if (WeightDecay != 0) p[i] *= decay;
                m[i] = b1 * m[i] + c1 * gi;
                v[i] = b2 * v[i] + c2 * gi * gi;
                // torch: denom = sqrt(v)/sqrt(bc2) + eps; p -= (lr/bc1)·m/denom
                p[i] -= stepSize * m[i] / (MathF.Sqrt(v[i]) / sqrtBc2 + eps);
            }
        }
    }
}
