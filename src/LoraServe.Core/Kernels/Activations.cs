using System.Runtime.Intrinsics;
using LoraServe.Core.Threading;

namespace LoraServe.Core.Kernels;

/// <summary>Elementwise activations of the Llama MLP.</summary>
public static unsafe class Activations
{
    private const int ChunkElements = 1 << 14;

    /// <summary>SiLU-gated MLP middle: gate[i] = silu(gate[i]) · up[i]; silu(x) = x / (1 + e^-x).</summary>
    public static void SiluMul(Span<float> gate, ReadOnlySpan<float> up)
    {
        if (up.Length < gate.Length) throw new ArgumentException($"up has {up.Length} elements, gate {gate.Length}", nameof(up));
        if (gate.IsEmpty) return;
        fixed (float* g = gate)
        fixed (float* u = up)
        {
            var job = new Job { Gate = g, Up = u, Length = gate.Length, Isa = KernelIsa.Current };
            int tasks = (gate.Length + ChunkElements - 1) / ChunkElements;
            if (tasks == 1) Run(&job, 0);
            else KernelThreadPool.Run(&Run, &job, tasks);
        }
    }

    private struct Job
    {
        public float* Gate, Up;
        public int Length;
        public IsaLevel Isa;
    }

    private static void Run(void* state, int task)
    {
        var job = (Job*)state;
        int i = task * ChunkElements, end = Math.Min(job->Length, i + ChunkElements);
        float* g = job->Gate, u = job->Up;
        if (job->Isa == IsaLevel.Vector512)
        {
            for (; i + 16 <= end; i += 16)
            {
                var x = Vector512.Load(g + i);
                (x / (Vector512<float>.One + Vector512.Exp(-x)) * Vector512.Load(u + i)).Store(g + i);
            }
        }
        else if (job->Isa == IsaLevel.Vector256)
        {
            for (; i + 8 <= end; i += 8)
            {
                var x = Vector256.Load(g + i);
                (x / (Vector256<float>.One + Vector256.Exp(-x)) * Vector256.Load(u + i)).Store(g + i);
            }
        }
        for (; i < end; i++) g[i] = g[i] / (1f + MathF.Exp(-g[i])) * u[i];
    }
}
