using LoraServe.Core.Kernels;
using LoraServe.Core.Kv;
using LoraServe.Core.Tests.Infrastructure;
using LoraServe.Core.Tensors;

namespace LoraServe.Core.Tests.Kernels;

/// <summary>The hot path allocates nothing once warmed up (scratch is per thread and only grows).</summary>
public sealed class AllocationTests
{
    [Fact]
    public void Kernels_do_not_allocate_after_warm_up()
    {
        var logits = TensorCheck.Random(49152, 1, range: 5);
        var rng = new Random(1);
        var filtered = new SamplingParams(0.8f, 0.9f, 40);
        var topP = new SamplingParams(1f, 0.9f, 0);
        var plain = new SamplingParams(1f);
        using var weights = GemmTests.RandomWeights(191, 577, DType.BF16, seed: 1);
        var x = TensorCheck.Random(17 * 577, 2);
        var y = new float[17 * 191];
        using var cache = new PagedKvCache(1, 8, 4, 1, 16);
        var table = new[] { 3, 1, 6 };
        cache.Write(0, table, 0, TensorCheck.Random(10 * 16, 3), TensorCheck.Random(10 * 16, 4), 10);
        var seqs = new[] { new AttentionSequence(0, 2, 8, table) };
        var q = TensorCheck.Random(2 * 2 * 16, 5);
        var o = new float[q.Length];
        var norm = TensorCheck.Random(577, 6);

        void Step()
        {
            Sampler.Sample(logits, filtered, rng, out _);
            Sampler.Sample(logits, topP, rng, out _);
            Sampler.Sample(logits, plain, rng, out _);
            Gemm.MatMulTransposed(x, 17, weights.Matrix, y);
            PagedAttention.Forward(q, seqs, cache, 0, 2, 0.25f, o);
            RmsNorm.Apply(x, norm, 1e-5f, x, 17);
            Softmax.InPlace(y);
        }

        Step();
        var actions = new (string, Action)[]
        {
            ("sample filtered", () => Sampler.Sample(logits, filtered, rng, out _)),
            ("sample top-p", () => Sampler.Sample(logits, topP, rng, out _)),
            ("sample plain", () => Sampler.Sample(logits, plain, rng, out _)),
            ("gemm", () => Gemm.MatMulTransposed(x, 17, weights.Matrix, y)),
            ("attention", () => PagedAttention.Forward(q, seqs, cache, 0, 2, 0.25f, o)),
            ("rmsnorm", () => RmsNorm.Apply(x, norm, 1e-5f, x, 17)),
            ("softmax", () => Softmax.InPlace(y)),
        };
        var report = "";
        foreach (var (name, action) in actions)
        {
            action();
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 20; i++) action();
            long bytes = GC.GetAllocatedBytesForCurrentThread() - before;
            if (bytes != 0) report += $"{name}: {bytes} bytes in 20 calls; ";
        }
        Assert.True(report.Length == 0, report);
    }
}
