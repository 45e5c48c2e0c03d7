using System.Numerics.Tensors;
using LoraServe.Core.Threading;

namespace LoraServe.Training.Kernels;

/// <summary>
/// Softmax cross-entropy fused with its gradient: loss_i = logsumexp(z_i) − z_i[y_i]; the gradient
/// of weight·Σ loss_i is weight·(softmax(z_i) − onehot(y_i)), written over the logits in place (the
/// logits are not needed afterwards, and a second (rows, vocab) buffer would be the largest
/// allocation of the step). The log-sum-exp is accumulated in double.
/// </summary>
public static unsafe class CrossEntropy
{
    /// <summary>
    /// logits: (rows, vocab), replaced by weight·dloss/dlogits; targets: (rows) in [0, vocab);
    /// losses: (rows) receives each row's unweighted loss.
    /// </summary>
    public static void ForwardBackward(Span<float> logits, ReadOnlySpan<int> targets, int vocab, float weight, Span<double> losses)
    {
        int rows = targets.Length;
        if (logits.Length < (long)rows * vocab) throw new ArgumentException($"logits has {logits.Length} elements, needs {rows}x{vocab}", nameof(logits));
        if (losses.Length < rows) throw new ArgumentException($"losses has {losses.Length} elements, needs {rows}", nameof(losses));
        foreach (int t in targets)
            if ((uint)t >= (uint)vocab) throw new ArgumentOutOfRangeException(nameof(targets), t, $"target outside the vocabulary of {vocab}");
        if (rows == 0) return;
        fixed (float* z = logits) fixed (int* y = targets) fixed (double* l = losses)
        {
            var job = new Job { Logits = z, Targets = y, Losses = l, Vocab = vocab, Weight = weight };
            KernelThreadPool.Run(&Row, &job, rows);
        }
    }

    private struct Job
    {
        public float* Logits;
        public int* Targets;
        public double* Losses;
        public int Vocab;
        public float Weight;
    }

    private static void Row(void* state, int r)
    {
        var j = (Job*)state;
        var z = new Span<float>(j->Logits + (long)r * j->Vocab, j->Vocab);
        int y = j->Targets[r];
        float target = z[y];
        float max = TensorPrimitives.Max(z);
        TensorPrimitives.Subtract(z, max, z);
        TensorPrimitives.Exp(z, z);
        double sum = 0;
        foreach (float e in z) sum += e;
        j->Losses[r] = max + Math.Log(sum) - target;
        TensorPrimitives.Multiply(z, (float)(j->Weight / sum), z);
        z[y] -= j->Weight;
    }
}
