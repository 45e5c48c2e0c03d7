using System.Runtime.Intrinsics;
using LoraServe.Core.Tensors;
using LoraServe.Core.Threading;

namespace LoraServe.Bench;

/// <summary>
/// Memory read bandwidth: all kernel threads sum disjoint slices of a buffer far larger than the
/// caches (Vector512 loads, 4 accumulators), as a decode-step GEMV streams weights. The
/// denominator of the M = 1 GEMM efficiency.
/// </summary>
public sealed unsafe class MemoryBandwidthBenchmark : IBenchmark
{
    private const long BufferBytes = 1L << 30;

    public string Name => "bandwidth";

    public string Description => "measured memory read bandwidth, all cores, 1 GiB buffer";

    public void Run(BenchOptions options)
    {
        double bw = Measure(options.Reps);
        Console.WriteLine("| threads | read GB/s |");
        Console.WriteLine("|---:|---:|");
        Console.WriteLine($"| {KernelThreadPool.ThreadCount} | {bw / 1e9:F1} |");
    }

    private struct State
    {
        public float* Data;
        public long FloatsPerTask;
    }

    /// <summary>Bytes per second read by all kernel threads.</summary>
    public static double Measure(int reps)
    {
        using var buffer = new NativeBuffer(BufferBytes, zero: false);
        var span = buffer.AsSpan<float>();
        span.Fill(1f); // touch every page so the first rep does not time page faults
        int tasks = KernelThreadPool.ThreadCount * 8;
        var state = new State { Data = (float*)buffer.Pointer, FloatsPerTask = BufferBytes / sizeof(float) / tasks / 64 * 64 };
        var samples = new double[reps];
        KernelThreadPool.Run(&Read, &state, tasks);
        for (int r = 0; r < reps; r++)
        {
            double start = Timing.Now();
            KernelThreadPool.Run(&Read, &state, tasks);
            samples[r] = tasks * state.FloatsPerTask * sizeof(float) / (Timing.Now() - start);
        }
        Array.Sort(samples);
        return samples[reps / 2];
    }

    private static void Read(void* s, int index)
    {
        var state = (State*)s;
        float* p = state->Data + index * state->FloatsPerTask;
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (long i = 0; i < state->FloatsPerTask; i += 64)
        {
            a0 += Vector512.Load(p + i);
            a1 += Vector512.Load(p + i + 16);
            a2 += Vector512.Load(p + i + 32);
            a3 += Vector512.Load(p + i + 48);
        }
        PeakFlopsBenchmark.Sink += Vector512.Sum((a0 + a1) + (a2 + a3));
    }
}
