using System.Buffers;
using System.Buffers.Binary;
using System.Text.Encodings.Web;
using System.Text.Json;
using LoraServe.Core.Tensors;

namespace LoraServe.Models.Safetensors;

/// <summary>
/// Writes a .safetensors file the way the reference implementation (huggingface/safetensors
/// <c>serialize_to_file</c>) does: data ordered by descending dtype width, then by name (so every
/// tensor starts aligned to its element size), compact JSON header listing "__metadata__" first
/// and the tensors in data order, padded with spaces to a multiple of 8 bytes. Data is converted
/// from float32 chunk by chunk while streaming to disk, so memory holds at most the caller's
/// floats plus one chunk.
/// </summary>
public sealed class SafetensorsWriter
{
    private const int ChunkElements = 1 << 16;

    private readonly List<Entry> _entries = [];
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);

    /// <param name="metadata">the header's "__metadata__"; torch's save_file writes {"format": "pt"}, which transformers checks for</param>
    public SafetensorsWriter(IReadOnlyDictionary<string, string>? metadata = null)
    {
        Metadata = metadata;
    }

    public IReadOnlyDictionary<string, string>? Metadata { get; }

    /// <summary>Sum of all tensors' stored bytes (the index's metadata.total_size).</summary>
    public long DataBytes { get; private set; }

    public int Count => _entries.Count;

    /// <summary>Adds a tensor whose float data the caller holds; it is converted while writing.</summary>
    public void Add(string name, DType dtype, ReadOnlySpan<long> shape, float[] data)
    {
        long count = ElementCount(name, shape);
        if (data.LongLength != count)
            throw new ArgumentException($"tensor '{name}' has {data.LongLength} values but shape {SafetensorsTensorInfo.FormatShape(shape)} needs {count}", nameof(data));
        Add(name, dtype, shape, (start, destination) => data.AsSpan(checked((int)start), destination.Length).CopyTo(destination));
    }

    /// <summary>Adds a tensor whose data is produced chunk by chunk at write time.</summary>
    public void Add(string name, DType dtype, ReadOnlySpan<long> shape, TensorFiller fill)
    {
        ArgumentNullException.ThrowIfNull(fill);
        if (string.IsNullOrEmpty(name) || name == "__metadata__")
            throw new ArgumentException($"'{name}' is not a valid tensor name", nameof(name));
        if (!_names.Add(name)) throw new ArgumentException($"tensor '{name}' was already added", nameof(name));
        long count = ElementCount(name, shape);
        long bytes = checked(count * dtype.SizeInBytes());
        _entries.Add(new Entry(name, dtype, shape.ToArray(), count, bytes, fill));
        DataBytes += bytes;
    }

    public void Save(string path)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 1 << 20);
        Save(stream);
    }

    public void Save(Stream stream)
    {
        var ordered = new List<Entry>(_entries);
        // Widest dtype first, then name: the reference's order (Dtype derives Ord in increasing width, F16 < BF16 < F32).
        ordered.Sort((a, b) =>
        {
            int byDtype = DTypeRank(b.DType).CompareTo(DTypeRank(a.DType));
            return byDtype != 0 ? byDtype : string.CompareOrdinal(a.Name, b.Name);
        });

        byte[] header = BuildHeader(ordered);
        Span<byte> prefix = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
        stream.Write(prefix);
        stream.Write(header);

        float[] floats = ArrayPool<float>.Shared.Rent(ChunkElements);
        byte[] bytes = ArrayPool<byte>.Shared.Rent(ChunkElements * 4);
        try
        {
            foreach (var entry in ordered)
            {
                int size = entry.DType.SizeInBytes();
                for (long start = 0; start < entry.Count; start += ChunkElements)
                {
                    int n = (int)Math.Min(ChunkElements, entry.Count - start);
                    var chunk = floats.AsSpan(0, n);
                    entry.Fill(start, chunk);
                    ElementConversion.Narrow(chunk, entry.DType, bytes.AsSpan(0, n * size));
                    stream.Write(bytes, 0, n * size);
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(floats);
            ArrayPool<byte>.Shared.Return(bytes);
        }
        stream.Flush();
    }

    private byte[] BuildHeader(List<Entry> ordered)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = false, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            if (Metadata is not null)
            {
                json.WriteStartObject("__metadata__");
                var keys = new List<string>(Metadata.Keys);
                keys.Sort(StringComparer.Ordinal);
                foreach (var key in keys) json.WriteString(key, Metadata[key]);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var entry in ordered)
            {
                json.WriteStartObject(entry.Name);
                json.WriteString("dtype", entry.DType.SafetensorsName());
                json.WriteStartArray("shape");
                foreach (long d in entry.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + entry.Bytes);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += entry.Bytes;
            }
            json.WriteEndObject();
        }
        // Pad with spaces (valid JSON whitespace) so the data buffer starts 8-byte aligned.
        int padding = (8 - buffer.WrittenCount % 8) % 8;
        var header = new byte[buffer.WrittenCount + padding];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(buffer.WrittenCount).Fill((byte)' ');
        return header;
    }

    private static int DTypeRank(DType dtype) => dtype switch
    {
        DType.F16 => 0,
        DType.BF16 => 1,
        DType.F32 => 2,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype"),
    };

    private static long ElementCount(string name, ReadOnlySpan<long> shape)
    {
        long count = 1;
        foreach (long d in shape)
        {
            if (d < 0) throw new ArgumentException($"tensor '{name}' has negative dimension in shape {SafetensorsTensorInfo.FormatShape(shape)}", nameof(shape));
            count = checked(count * d);
        }
        return count;
    }

    private sealed record Entry(string Name, DType DType, long[] Shape, long Count, long Bytes, TensorFiller Fill);
}
