using System.Diagnostics;

namespace LoraServe.Bench;

/// <summary>
/// Median-of-repetitions timing. The machines are shared and noisy; the median of several
/// repetitions (each long enough to dwarf timer resolution) resists a neighbour's burst better
/// than the mean, and the best would flatter us.
///
/// Two clocks: wall time (what a user waits), and process CPU time (`--clock cpu`): with
/// `--threads 1` the only busy thread is the caller, so CPU time excludes the time the OS gave our
/// core to someone else, and FLOP per CPU-second ÷ the single-core peak (also in CPU time) measures
/// the kernel itself even on a loaded machine.
/// </summary>
public static class Timing
{
    public static bool UseCpuClock { get; set; }

    public static string ClockName => UseCpuClock ? "process CPU time" : "wall time";

    /// <summary>Current reading of the selected clock, in seconds.</summary>
    public static double Now() => UseCpuClock
        ? Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds
        : Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency;

    /// <summary>Seconds per call of <paramref name="action"/>: warms up, then the median over reps of (batch time / batch calls).</summary>
    public static double MedianSecondsPerCall(Action action, int reps, double minBatchSeconds = 0.05)
    {
        action();
        var sw = Stopwatch.StartNew();
        int calls = 0;
        while (sw.Elapsed.TotalSeconds < minBatchSeconds || calls < 2) { action(); calls++; }
        int batch = Math.Max(1, calls);
        var samples = new double[reps];
        for (int r = 0; r < reps; r++)
        {
            double start = Now();
            for (int i = 0; i < batch; i++) action();
            samples[r] = (Now() - start) / batch;
        }
        Array.Sort(samples);
        return samples[reps / 2];
    }
}
