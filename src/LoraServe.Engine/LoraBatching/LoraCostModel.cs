namespace LoraServe.Engine.LoraBatching;

/// <summary>
/// Step-time estimates for merged and unmerged execution and the merge/unmerge switch cost,
/// measured on this machine (DESIGN §5.2: the paper's constants came from another kernel on
/// another machine). Seeded by a start-up calibration, then refined from every real step with an
/// exponential moving average, bucketed by the number of distinct adapters in the step (the
/// unmerged cost grows with the adapter bytes the step reads).
/// </summary>
public sealed class LoraCostModel
{
    private const double Smoothing = 0.2;
    private static readonly int[] BucketFloors = [0, 1, 2, 4, 8, 16, 32];
    private readonly double[] _unmerged = new double[BucketFloors.Length];
    private double _merged;

    /// <param name="mergedStepSeconds">a step with the adapter merged (≈ the base model's step)</param>
    /// <param name="unmergedStepSeconds">a step with <paramref name="calibrationAdapters"/> distinct adapters unmerged</param>
    /// <param name="switchSeconds">one merge plus one unmerge</param>
    public LoraCostModel(double mergedStepSeconds, double unmergedStepSeconds, int calibrationAdapters, double switchSeconds)
    {
        if (!(mergedStepSeconds > 0) || !(unmergedStepSeconds > 0) || !(switchSeconds >= 0) || calibrationAdapters < 1)
            throw new ArgumentException("cost model calibration needs positive step times, a non-negative switch cost and ≥ 1 adapter");
        _merged = mergedStepSeconds;
        // Until a bucket has its own observations, interpolate linearly in the number of adapters
        // between the merged step (0 extra adapters) and the calibrated unmerged step.
        double perAdapter = (unmergedStepSeconds - mergedStepSeconds) / calibrationAdapters;
        for (int b = 0; b < BucketFloors.Length; b++)
            _unmerged[b] = Math.Max(mergedStepSeconds * 1e-3, mergedStepSeconds + perAdapter * Math.Max(1, BucketFloors[b]));
        SwitchSeconds = switchSeconds;
    }

    public double MergedStepSeconds => _merged;

    public double SwitchSeconds { get; private set; }

    public double UnmergedStepSeconds(int distinctAdapters) => _unmerged[Bucket(distinctAdapters)];

    /// <summary>ρ = merged step ÷ unmerged step for a batch with that many distinct adapters.</summary>
    public double Ratio(int distinctAdapters) => _merged / UnmergedStepSeconds(distinctAdapters);

    public void ObserveStep(LoraExecutionMode mode, int distinctAdapters, double seconds)
    {
        if (!(seconds > 0)) return;
        if (mode == LoraExecutionMode.Merged || distinctAdapters == 0) _merged += Smoothing * (seconds - _merged);
        else
        {
            ref double u = ref _unmerged[Bucket(distinctAdapters)];
            u += Smoothing * (seconds - u);
        }
    }

    public void ObserveSwitch(double seconds)
    {
        if (seconds >= 0) SwitchSeconds += Smoothing * (seconds - SwitchSeconds);
    }

    private static int Bucket(int distinct)
    {
        int b = 0;
        while (b + 1 < BucketFloors.Length && distinct >= BucketFloors[b + 1]) b++;
        return b;
    }
}
