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
    /// A copy of <paramref name="mapped"/> whose matrices live in one arena, in forward order (each
    /// layer's q, k, v, o, gate, up, down, then lm_head, then an untied embedding); norms and biases
    /// are shared (they are already float32 arrays of their own). <paramref name="mapped"/> is left
    /// untouched: the caller disposes it, which releases the file mappings.
    /// </summary>
    public static unsafe LlamaWeights Pack(LlamaWeights mapped)
    {
        ArgumentNullException.ThrowIfNull(mapped);
        var order = new List<WeightMatrix>();
        foreach (var layer in mapped.Layers)
            foreach (var kind in LinearKinds.All) order.Add(layer.Matrix(kind));
        order.Add(mapped.LmHead);
        if (!ReferenceEquals(mapped.Embedding, mapped.LmHead)) order.Add(mapped.Embedding);

        long total = 0;
        foreach (var m in order) total += Aligned(m.ByteCount);
        var arena = new NativeBuffer(total, zero: false, hugePages: true);
        try
        {
            var copies = new Dictionary<WeightMatrix, WeightMatrix>(ReferenceEqualityComparer.Instance);
            long offset = 0;
            foreach (var m in order)
            {
                nint at = arena.Pointer + (nint)offset;
                Buffer.MemoryCopy((void*)m.Data, (void*)at, m.ByteCount, m.ByteCount);
                copies[m] = new WeightMatrix(at, m.Rows, m.Cols, m.DType, m.Name);
                offset += Aligned(m.ByteCount);
            }
            var layers = new LlamaLayerWeights[mapped.Layers.Length];
            for (int i = 0; i < layers.Length; i++)
            {
                var l = mapped.Layers[i];
                layers[i] = new LlamaLayerWeights
                {
                    InputNorm = l.InputNorm, PostAttentionNorm = l.PostAttentionNorm,
                    Q = copies[l.Q], K = copies[l.K], V = copies[l.V], O = copies[l.O],
                    Gate = copies[l.Gate], Up = copies[l.Up], Down = copies[l.Down],
                    QBias = l.QBias, KBias = l.KBias, VBias = l.VBias, OBias = l.OBias,
                    GateBias = l.GateBias, UpBias = l.UpBias, DownBias = l.DownBias,
                };
            }
            return new LlamaWeights
            {
                Config = mapped.Config,
                Embedding = copies[mapped.Embedding],
                Layers = layers,
                FinalNorm = mapped.FinalNorm,
                LmHead = copies[mapped.LmHead],
                Owners = [arena],
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
