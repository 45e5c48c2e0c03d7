using LoraServe.Core.Tensors;
using LoraServe.Models.Llama;

namespace LoraServe.Models.Weights;

/// <summary>
/// Copies a model's matrices out of their file mappings into one huge-page arena
/// (<see cref="WeightPlacement.Resident"/>), and decides <see cref="WeightPlacement.Auto"/>.
/// </summary>
public static class ResidentWeights
{
    /// <summary>Alignment of each matrix in the arena: a cache line, so Vector512 rows never split lines and the arena stays one stream.</summary>
    private const long Alignment = 64;

    /// <summary>The placement <paramref name="requested"/> resolves to for <paramref name="matrixBytes"/> of matrices, given the OS's available memory (null: unknown).</summary>
    public static WeightPlacement Resolve(WeightPlacement requested, long matrixBytes, long? availableBytes) => requested switch
    {
        WeightPlacement.Auto => availableBytes is long available && matrixBytes <= available / 2 ? WeightPlacement.Resident : WeightPlacement.Mapped,
        WeightPlacement.Mapped or WeightPlacement.Resident => requested,
        _ => throw new ArgumentOutOfRangeException(nameof(requested), requested, "unknown weight placement"),
    };

    /// <summary>MemAvailable from /proc/meminfo in bytes, or null where there is no such file or line.</summary>
    public static long? AvailableMemoryBytes()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/meminfo"))
            {
                if (!line.StartsWith("MemAvailable:", StringComparison.Ordinal)) continue;
                var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return parts.Length >= 2 && long.TryParse(parts[1], out long kib) ? kib * 1024 : null;
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return null;
    }

    /// <summary>
    /// Moves the matrices of <paramref name="mapped"/> into one arena, in forward order (each layer's
    /// q, k, v, o, gate, up, down, then lm_head, then an untied embedding), and returns weights that
    /// own the arena. The layers are taken over, their matrices swapped in place with
    /// <see cref="LlamaLayerWeights.Replace"/> (as a merged adapter's are), so norms and biases come
    /// along unchanged. The caller then disposes <paramref name="mapped"/>, which releases the file
    /// mappings and nothing else.
    /// </summary>
    public static unsafe LlamaWeights Pack(LlamaWeights mapped)
    {
        ArgumentNullException.ThrowIfNull(mapped);
        bool tied = ReferenceEquals(mapped.Embedding, mapped.LmHead);
        long total = Aligned(mapped.LmHead.ByteCount) + (tied ? 0 : Aligned(mapped.Embedding.ByteCount));
        foreach (var layer in mapped.Layers)
            foreach (var kind in LinearKinds.All) total += Aligned(layer.Matrix(kind).ByteCount);
        var arena = new NativeBuffer(total, zero: false, hugePages: true);
        long offset = 0;
        WeightMatrix Place(WeightMatrix m)
        {
            nint at = arena.Pointer + (nint)offset;
            Buffer.MemoryCopy((void*)m.Data, (void*)at, m.ByteCount, m.ByteCount);
            offset += Aligned(m.ByteCount);
            return new WeightMatrix(at, m.Rows, m.Cols, m.DType, m.Name);
        }
        try
        {
            foreach (var layer in mapped.Layers)
                foreach (var kind in LinearKinds.All) layer.Replace(kind, Place(layer.Matrix(kind)));
            var lmHead = Place(mapped.LmHead);
            return new LlamaWeights
            {
                Config = mapped.Config,
                Embedding = tied ? lmHead : Place(mapped.Embedding),
                Layers = mapped.Layers,
                FinalNorm = mapped.FinalNorm,
                LmHead = lmHead,
                Owners = [arena],
                Resident = true,
            };
        }
        catch
        {
            arena.Dispose();
            throw;
        }
    }

    private static long Aligned(long bytes) => (bytes + Alignment - 1) / Alignment * Alignment;
}
