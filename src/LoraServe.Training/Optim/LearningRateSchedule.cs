namespace LoraServe.Training.Optim;

/// <summary>
/// Linear warmup then cosine decay to zero, the shape of HF transformers'
/// get_cosine_schedule_with_warmup. Steps are counted from 1 here, so the first update already
/// moves (HF evaluates its lambda at 0 for the first step, which wastes that step on lr = 0).
/// </summary>
public sealed record LearningRateSchedule(double PeakLearningRate, int WarmupSteps, int TotalSteps)
{
    /// <summary>The learning rate of optimizer step <paramref name="step"/> (1-based).</summary>
    public double At(int step)
    {
        if (step <= WarmupSteps) return PeakLearningRate * step / Math.Max(1, WarmupSteps);
        double progress = (double)(step - WarmupSteps) / Math.Max(1, TotalSteps - WarmupSteps);
        return PeakLearningRate * Math.Max(0, 0.5 * (1 + Math.Cos(Math.PI * Math.Min(1, progress))));
    }
}
