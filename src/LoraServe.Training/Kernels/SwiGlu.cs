using System.Numerics.Tensors;
using LoraServe.Core.Threading;

namespace LoraServe.Training.Kernels;

/// <summary>
/// The SiLU-gated MLP middle, forward and backward: act = silu(gate)·up with silu(g) = g·σ(g).
/// Backward: dup = dact·silu(g); dgate = dact·up·σ(g)·(1 + g·(1 − σ(g))). The forward keeps gate
/// and up (the backward needs both) and writes act to its own buffer.
/// </summary>
public static unsafe class SwiGlu
{
    private const int Chunk = 1 << 13;

    /// <summary>gate, up, act: (n) elements.</summary>
    public static void Forward(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> act)
    {
        int n = gate.Length;
        if (up.Length < n || act.Length < n) throw new ArgumentException($"up/act shorter than gate ({n})");
        fixed (float* g = gate) fixed (float* u = up) fixed (float* a = act)
        {
            var job = new Job { Gate = g, Up = u, Act = a, Length = n };
            Dispatch(&ForwardTask, &job, n);
        }
    }

    /// <summary>dAct, gate, up: (n); dGate, dUp: (n), overwritten. dGate may alias dAct.</summary>
    public static void Backward(ReadOnlySpan<float> dAct, ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> dGate, Span<float> dUp)
    {
        int n = gate.Length;
        if (dAct.Length < n || up.Length < n || dGate.Length < n || dUp.Length < n) throw new ArgumentException($"buffers shorter than gate ({n})");
        fixed (float* d = dAct) fixed (float* g = gate) fixed (float* u = up) fixed (float* dg = dGate) fixed (float* du = dUp)
        {
            var job = new Job { DAct = d, Gate = g, Up = u, DGate = dg, DUp = du, Length = n };
            Dispatch(&BackwardTask, &job, n);
        }
    }

    private static void Dispatch(delegate*<void*, int, void> task, Job* job, int n)
    {
        int tasks = (n + Chunk - 1) / Chunk;
        if (tasks <= 1) { if (n > 0) task(job, 0); }
        else KernelThreadPool.Run(task, job, tasks);
    }

    private struct Job
    {
        public float* Gate, Up, Act, DAct, DGate, DUp;
        public int Length;
    }

    // σ(g) for a chunk goes through TensorPrimitives.Sigmoid (vectorised exp); the scalar MathF.Exp
    // loop it replaced made the MLP middle cost as much as a projection GEMM at SmolLM2 shapes.
    private static void ForwardTask(void* state, int task)
    {
        var j = (Job*)state;
        int start = task * Chunk, n = Math.Min(j->Length, start + Chunk) - start;
        Span<float> sig = stackalloc float[Chunk];
        sig = sig.Slice(0, n);
        var g = new ReadOnlySpan<float>(j->Gate + start, n);
        var act = new Span<float>(j->Act + start, n);
        TensorPrimitives.Sigmoid(g, sig);
        TensorPrimitives.Multiply(g, sig, act);
        TensorPrimitives.Multiply(act, new ReadOnlySpan<float>(j->Up + start, n), act);
    }

    private static void BackwardTask(void* state, int task)
    {
        var j = (Job*)state;
        int start = task * Chunk, n = Math.Min(j->Length, start + Chunk) - start;
        Span<float> sig = stackalloc float[Chunk];
        sig = sig.Slice(0, n);
        TensorPrimitives.Sigmoid(new ReadOnlySpan<float>(j->Gate + start, n), sig);
        for (int i = 0; i < n; i++)
        {
            float g = j->Gate[start + i], u = j->Up[start + i], d = j->DAct[start + i], s = sig[i];
            j->DUp[start + i] = d * g * s;
            j->DGate[start + i] = d * u * s * (1f + g * (1f - s));
        }
    }
}
