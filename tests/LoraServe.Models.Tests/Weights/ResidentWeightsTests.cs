using LoraServe.Core.Kernels;
using LoraServe.Core.Kv;
using LoraServe.Core.Tensors;
using LoraServe.Models.Creation;
using LoraServe.Models.Llama;
using LoraServe.Models.Safetensors;
using LoraServe.Models.Tests.Safetensors;
using LoraServe.Models.Weights;

namespace LoraServe.Models.Tests.Weights;

public sealed class ResidentWeightsTests : IDisposable
{
    private const int Vocab = 97;
    private readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(DType.BF16, "tied")]
    [InlineData(DType.F32, "untied")]
    [InlineData(DType.F16, "qwen2")]
    public void Resident_matrices_hold_the_file_bytes_in_forward_order(DType dtype, string variant)
    {
        var shape = variant switch { "untied" => ModelShape.Tiny(Vocab).Untied(), "qwen2" => ModelShape.Tiny(Vocab).AsQwen2(), _ => ModelShape.Tiny(Vocab) };
        RandomModelWriter.Write(_dir.Path, shape, seed: 3, dtype);
        using var mapped = LlamaWeightsLoader.Load(_dir.Path, WeightPlacement.Mapped);
        using var resident = LlamaWeightsLoader.Load(_dir.Path, WeightPlacement.Resident);

        Assert.True(resident.Resident);
        Assert.False(mapped.Resident);
        var owner = Assert.Single(resident.Owners);
        var arena = Assert.IsType<NativeBuffer>(owner);
        // Forward order: each layer's q, k, v, o, gate, up, down, then lm_head, then an untied embedding.
        var expectedOrder = resident.Layers.SelectMany(l => LinearKinds.All.Select(l.Matrix)).Append(resident.LmHead).ToList();
        if (!ReferenceEquals(resident.Embedding, resident.LmHead)) expectedOrder.Add(resident.Embedding);
        Assert.Equal(variant != "untied", ReferenceEquals(resident.Embedding, resident.LmHead));
        long previousEnd = arena.Pointer;
        foreach (var m in expectedOrder)
        {
            Assert.Equal(0, m.Data % 64);
            Assert.InRange(m.Data - previousEnd, 0, 63);
            previousEnd = m.Data + (nint)m.ByteCount;
        }
        Assert.True(previousEnd <= arena.Pointer + (nint)arena.Bytes);

        // Same bytes as the file's tensors (read through a fresh mapping), same names, shapes and dtypes.
        using var file = SafetensorsFile.Open(_dir.File("model.safetensors"));
        foreach (var (r, m) in Pairs(resident, mapped))
        {
            Assert.Equal((m.Name, m.Rows, m.Cols, m.DType), (r.Name, r.Rows, r.Cols, r.DType));
            Assert.NotEqual(m.Data, r.Data);
            Assert.True(Bytes(r).SequenceEqual(Bytes(file.GetMatrix(r.Name))), r.Name);
        }
        // Norms and biases are the same float32 values.
        Assert.Equal(mapped.FinalNorm, resident.FinalNorm);
        Assert.Equal(mapped.Layers[1].InputNorm, resident.Layers[1].InputNorm);
        Assert.Equal(mapped.Layers[0].QBias, resident.Layers[0].QBias);
    }

    [Fact]
    public void Resident_and_mapped_models_give_identical_logits()
    {
        RandomModelWriter.Write(_dir.Path, ModelShape.Tiny(Vocab), seed: 5, DType.BF16);
        int[] prompt = [3, 1, 4, 1, 5, 9, 2, 6];
        float[] Logits(WeightPlacement placement)
        {
            using var model = new LlamaModel(LlamaWeightsLoader.Load(_dir.Path, placement));
            using var cache = model.CreateKvCache(numBlocks: 4, blockSize: 4);
            var logits = new float[Vocab];
            model.Forward(ForwardBatch.LastTokenLogits(prompt, [new AttentionSequence(0, prompt.Length, 0, [0, 1])]), cache, logits);
            return logits;
        }
        Assert.Equal(Logits(WeightPlacement.Mapped), Logits(WeightPlacement.Resident));
    }

    [Fact]
    public void Disposing_resident_weights_frees_the_arena()
    {
        RandomModelWriter.Write(_dir.Path, ModelShape.Tiny(Vocab), seed: 1, DType.BF16);
        var w = LlamaWeightsLoader.Load(_dir.Path, WeightPlacement.Resident);
        var arena = (NativeBuffer)w.Owners.Single();
        w.Dispose();
        Assert.Throws<ObjectDisposedException>(() => arena.Pointer);
    }

    [Theory]
    [InlineData(WeightPlacement.Auto, 100L, 200L, WeightPlacement.Resident)]
    [InlineData(WeightPlacement.Auto, 101L, 200L, WeightPlacement.Mapped)]
    [InlineData(WeightPlacement.Auto, 100L, null, WeightPlacement.Mapped)]
    [InlineData(WeightPlacement.Mapped, 1L, 1000L, WeightPlacement.Mapped)]
    [InlineData(WeightPlacement.Resident, 1000L, 1L, WeightPlacement.Resident)]
    [InlineData(WeightPlacement.Resident, 1000L, null, WeightPlacement.Resident)]
    public void Auto_is_resident_only_within_half_of_available_memory(WeightPlacement requested, long matrixBytes, long? available, WeightPlacement expected) =>
        Assert.Equal(expected, ResidentWeights.Resolve(requested, matrixBytes, available));

    [Fact]
    public void Available_memory_is_read_from_meminfo_on_linux()
    {
        long? available = ResidentWeights.AvailableMemoryBytes();
        if (!OperatingSystem.IsLinux()) { Assert.Null(available); return; }
        string line = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemAvailable:"));
        long kib = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
        // Read twice a moment apart: equal to within what the system allocated in between (64 MiB).
        Assert.NotNull(available);
        Assert.InRange(available!.Value, kib * 1024 - (64L << 20), kib * 1024 + (64L << 20));
    }

    private static IEnumerable<(WeightMatrix Resident, WeightMatrix Mapped)> Pairs(LlamaWeights resident, LlamaWeights mapped)
    {
        yield return (resident.Embedding, mapped.Embedding);
        yield return (resident.LmHead, mapped.LmHead);
        for (int i = 0; i < resident.Layers.Length; i++)
            foreach (var kind in LinearKinds.All)
                yield return (resident.Layers[i].Matrix(kind), mapped.Layers[i].Matrix(kind));
    }

    private static unsafe ReadOnlySpan<byte> Bytes(WeightMatrix m) => new((void*)m.Data, checked((int)m.ByteCount));
}
