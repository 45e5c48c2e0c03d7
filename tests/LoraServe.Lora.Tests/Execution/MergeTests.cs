using LoraServe.Core.Tensors;
using LoraServe.Lora.Adapters;
using LoraServe.Lora.Execution;
using LoraServe.Models.Llama;
using LoraServe.Testing;

namespace LoraServe.Lora.Tests.Execution;

public class MergeTests
{
    private static readonly int[] Prompt = [7, 1, 88, 23, 54, 6];

    [Theory]
    [InlineData(DType.F32, 1e-4)]
    [InlineData(DType.BF16, 2e-2)] // merged weights are rounded to bf16 once; unmerged keeps the delta in float32
    public void Merged_equals_unmerged(DType dtype, double tolerance)
    {
        var config = InMemoryModel.TinyConfig();
        using var m = new InMemoryModel(config, seed: 21, dtype);
        var model = new LlamaModel(m.Weights);
        var (adapter, _) = RandomAdapters.Create(config, "a", 8, LinearKinds.All, 16, false, seed: 3);
        var unmerged = UnmergedLoraTests.RunAlone(model, Prompt, adapter);
        using var merger = new AdapterMerger(m.Weights);
        merger.Merge(adapter);
        var merged = UnmergedLoraTests.RunAlone(model, Prompt, null);
        merger.Unmerge();
        TensorAssert.Close(unmerged, merged, tolerance, $"merged vs unmerged {dtype}");
        var baseLogits = UnmergedLoraTests.RunAlone(model, Prompt, null);
        Assert.True(Math.Abs(baseLogits[0] - merged[0]) > 1e-3, "the adapter must change the output");
    }

    [Theory]
    [InlineData(DType.BF16)]
    [InlineData(DType.F16)]
    [InlineData(DType.F32)]
    public unsafe void Thousand_merge_unmerge_cycles_leave_base_weights_bitwise_identical(DType dtype)
    {
        var config = InMemoryModel.TinyConfig(layers: 1);
        using var m = new InMemoryModel(config, seed: 22, dtype);
        var (a1, _) = RandomAdapters.Create(config, "a1", 4, LinearKinds.All, 8, false, seed: 1);
        var (a2, _) = RandomAdapters.Create(config, "a2", 2, [LinearKind.Q, LinearKind.V], 4, true, seed: 2);
        var matrices = LinearKinds.All.Select(k => m.Weights.Layers[0].Matrix(k)).ToArray();
        byte[][] Snapshot() => matrices.Select(w => new Span<byte>((void*)w.Data, (int)w.ByteCount).ToArray()).ToArray();
        var before = Snapshot();
        using var merger = new AdapterMerger(m.Weights);
        for (int i = 0; i < 1000; i++)
        {
            merger.Merge(i % 2 == 0 ? a1 : a2);
            if (i == 0)
            {
                // The layer now computes with W + s·B·A; the base bytes themselves are never written.
                var q = m.Weights.Layers[0].Matrix(LinearKind.Q);
                Assert.NotSame(matrices[0], q);
                Assert.NotEqual(before[0], new Span<byte>((void*)q.Data, (int)q.ByteCount).ToArray());
                Assert.Equal(before[0], Snapshot()[0]);
            }
            merger.Unmerge();
        }
        var after = Snapshot();
        for (int j = 0; j < matrices.Length; j++)
        {
            Assert.Same(matrices[j], m.Weights.Layers[0].Matrix(LinearKinds.All[j]));
            Assert.Equal(before[j], after[j]);
        }
    }

    [Fact]
    public unsafe void Re_merging_the_adapter_merged_last_reuses_its_matrices_and_another_adapter_in_between_forces_a_recompute()
    {
        var config = InMemoryModel.TinyConfig(layers: 1);
        using var m = new InMemoryModel(config, seed: 24);
        var (a1, _) = RandomAdapters.Create(config, "a1", 4, [LinearKind.Q, LinearKind.Down], 8, false, seed: 1);
        var (a2, _) = RandomAdapters.Create(config, "a2", 2, [LinearKind.Q], 4, false, seed: 2);
        byte[] Q() { var w = m.Weights.Layers[0].Matrix(LinearKind.Q); return new Span<byte>((void*)w.Data, (int)w.ByteCount).ToArray(); }
        var baseQ = Q();
        using var merger = new AdapterMerger(m.Weights);
        merger.Merge(a1);
        Assert.True(merger.LastMergeComputed);
        var mergedA1 = Q();
        merger.Unmerge();
        Assert.Equal(baseQ, Q());
        merger.Merge(a1);
        Assert.False(merger.LastMergeComputed);
        Assert.Equal(mergedA1, Q());
        merger.Unmerge();
        merger.Merge(a2);
        Assert.True(merger.LastMergeComputed);
        Assert.NotEqual(mergedA1, Q());
        merger.Unmerge();
        merger.Merge(a1);
        Assert.True(merger.LastMergeComputed);
        Assert.Equal(mergedA1, Q());
        merger.Dispose();
        Assert.Equal(baseQ, Q());
    }

    [Fact]
    public void Merging_twice_without_unmerge_is_refused()
    {
        var config = InMemoryModel.TinyConfig(layers: 1);
        using var m = new InMemoryModel(config, seed: 23);
        var (a1, _) = RandomAdapters.Create(config, "first", 2, [LinearKind.Q], 4, false, seed: 1);
        using var merger = new AdapterMerger(m.Weights);
        merger.Merge(a1);
        var e = Assert.Throws<InvalidOperationException>(() => merger.Merge(a1));
        Assert.Contains("'first' is merged", e.Message);
    }

    [Fact]
    public unsafe void Bf16_merge_rounds_W_plus_sBA_to_nearest_even_like_the_float64_reference()
    {
        // hidden 40, intermediate 87: gate is 87×40 = 3480 elements, not a multiple of 16, so the scalar tail runs too.
        var config = InMemoryModel.TinyConfig(hidden: 40, heads: 5, kvHeads: 5, layers: 1);
        using var m = new InMemoryModel(config, seed: 31, DType.BF16);
        var (adapter, _) = RandomAdapters.Create(config, "a", 3, [LinearKind.Gate], 6, false, seed: 4);
        var mod = adapter.Module(0, LinearKind.Gate)!;
        var w = m.Weights.Layers[0].Gate;
        var before = new ushort[w.Rows * w.Cols];
        new Span<ushort>((void*)w.Data, before.Length).CopyTo(before);
        using var merger = new AdapterMerger(m.Weights);
        merger.Merge(adapter);
        var merged = m.Weights.Layers[0].Matrix(LinearKind.Gate);
        var after = new Span<ushort>((void*)merged.Data, before.Length);
        int exact = 0;
        for (int o = 0; o < w.Rows; o++)
            for (int i = 0; i < w.Cols; i++)
            {
                double d = 0;
                for (int j = 0; j < mod.Rank; j++) d += (double)mod.B[o * mod.Rank + j] * mod.A[j * w.Cols + i];
                double expected = BFloat16.ToSingle(before[o * w.Cols + i]) + mod.Scale * d;
                ushort want = BFloat16.FromSingle((float)expected);
                ushort got = after[o * w.Cols + i];
                if (got == want) exact++;
                else Assert.True(Math.Abs(got - want) == 1, $"element ({o}, {i}): got bf16 {got:X4}, want {want:X4}");
            }
        // Off by one ulp only where float32 accumulation lands on the other side of a rounding boundary.
        Assert.True(exact >= before.Length * 0.99, $"{exact} of {before.Length} exact");
    }
}
