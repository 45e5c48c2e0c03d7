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

    /// <summary>Bytes per second read by all kernel threads (median of <paramref name="reps"/>).</summary>
    public static double Measure(int reps)
    {
        using var probe = new Probe();
        var samples = new double[reps];
        for (int r = 0; r < reps; r++) samples[r] = probe.MeasureOnce();
        Array.Sort(samples);
        return samples[reps / 2];
    }

    /// <summary>
    /// The 1 GiB buffer, kept so that single bandwidth readings can be interleaved with the
    /// measurement they normalise (the decode benchmark pairs one reading with each step).
    /// </summary>
    public sealed class Probe : IDisposable
    {
        private readonly NativeBuffer _buffer = new(BufferBytes, zero: false);
        private State _state;
        private readonly int _tasks;

        public Probe()
        {
            _buffer.AsSpan<float>().Fill(1f); // touch every page so no reading times page faults
            _tasks = KernelThreadPool.ThreadCount * 8;
            _state = new State { Data = (float*)_buffer.Pointer, FloatsPerTask = BufferBytes / sizeof(float) / _tasks / 64 * 64 };
            MeasureOnce();
        }

        /// <summary>One reading: bytes per second while all kernel threads read the whole buffer once.</summary>
        public double MeasureOnce()
        {
            double start = Timing.Now();
            fixed (State* state = &_state) KernelThreadPool.Run(&Read, state, _tasks);
            return _tasks * _state.FloatsPerTask * sizeof(float) / (Timing.Now() - start);
        }

        public void Dispose() => _buffer.Dispose();
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
