using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using LoraServe.Core.Threading;

namespace LoraServe.Bench;

/// <summary>
/// Peak FMA rate: independent Vector512 FMA chains (16 accumulators: enough to cover the 4-cycle FMA
/// latency on two FMA pipes, 8 needed) with no memory traffic. This is the denominator of every
/// GEMM efficiency in docs/kernels.md.
/// </summary>
public sealed unsafe class PeakFlopsBenchmark : IBenchmark
{
    private const int Iterations = 1 << 24;
    private const double FlopsPerIteration = 16 * 16 * 2;

    public string Name => "peak";

    public string Description => "measured peak FMA FLOP/s (Vector512 FMA chains), one core and all cores";

    public void Run(BenchOptions options)
    {
        double single = Measure(1, options.Reps), all = Measure(KernelThreadPool.ThreadCount, options.Reps);
        Console.WriteLine($"clock: {Timing.ClockName}");
        Console.WriteLine("| threads | GFLOP/s |");
        Console.WriteLine("|---:|---:|");
        Console.WriteLine($"| 1 | {single / 1e9:F1} |");
        Console.WriteLine($"| {KernelThreadPool.ThreadCount} | {all / 1e9:F1} |");
    }

    /// <summary>FLOP/s with <paramref name="threads"/> threads each running the FMA chains.</summary>
    public static double Measure(int threads, int reps)
    {
        var samples = new double[reps];
        Work(null, 0);
        for (int r = 0; r < reps; r++)
        {
            double start = Timing.Now();
            using (KernelThreadPool.LimitCurrentThread(threads))
                KernelThreadPool.Run(&Work, null, threads);
            samples[r] = threads * Iterations * FlopsPerIteration / (Timing.Now() - start);
        }
        Array.Sort(samples);
        return samples[reps / 2];
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Work(void* state, int index)
    {
        var a = Vector512.Create(0.999999f);
        var b = Vector512.Create(1e-7f);
        Vector512<float> c0 = Vector512.Create(1f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
        Vector512<float> c8 = c0, c9 = c0, c10 = c0, c11 = c0, c12 = c0, c13 = c0, c14 = c0, c15 = c0;
        for (int i = 0; i < Iterations; i++)
        {
            c0 = Vector512.FusedMultiplyAdd(c0, a, b); c1 = Vector512.FusedMultiplyAdd(c1, a, b);
            c2 = Vector512.FusedMultiplyAdd(c2, a, b); c3 = Vector512.FusedMultiplyAdd(c3, a, b);
            c4 = Vector512.FusedMultiplyAdd(c4, a, b); c5 = Vector512.FusedMultiplyAdd(c5, a, b);
            c6 = Vector512.FusedMultiplyAdd(c6, a, b); c7 = Vector512.FusedMultiplyAdd(c7, a, b);
            c8 = Vector512.FusedMultiplyAdd(c8, a, b); c9 = Vector512.FusedMultiplyAdd(c9, a, b);
            c10 = Vector512.FusedMultiplyAdd(c10, a, b); c11 = Vector512.FusedMultiplyAdd(c11, a, b);
            c12 = Vector512.FusedMultiplyAdd(c12, a, b); c13 = Vector512.FusedMultiplyAdd(c13, a, b);
            c14 = Vector512.FusedMultiplyAdd(c14, a, b); c15 = Vector512.FusedMultiplyAdd(c15, a, b);
        }
        var sum = ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11)) + ((c12 + c13) + (c14 + c15));
        Sink = Vector512.Sum(sum);
    }

    /// <summary>Keeps the JIT from discarding the chains.</summary>
    public static float Sink;
}
