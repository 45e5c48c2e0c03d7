using System.Text.Json;
using System.Text.Unicode;
using LoraServe.Core.Tensors;
using LoraServe.Models.Config;

namespace LoraServe.Models.Safetensors;

/// <summary>
/// The parsed JSON header of a safetensors file (https://huggingface.co/docs/safetensors, "Format"):
/// <c>{"__metadata__": {str: str}, NAME: {"dtype", "shape", "data_offsets": [begin, end]}, …}</c>.
/// Validation is done once here so readers can use the offsets as raw pointers afterwards.
/// </summary>
internal sealed class SafetensorsHeader
{
    /// <summary>The reference implementation refuses larger headers (MAX_HEADER_SIZE); so do we.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private SafetensorsHeader(Dictionary<string, SafetensorsTensorInfo> tensors, Dictionary<string, string> metadata)
    {
        Tensors = tensors;
        Metadata = metadata;
    }

    public Dictionary<string, SafetensorsTensorInfo> Tensors { get; }

    public Dictionary<string, string> Metadata { get; }

    /// <param name="json">the N header bytes</param>
    /// <param name="bufferBytes">length of the byte buffer that follows the header</param>
    /// <param name="path">file path, for messages</param>
    public static SafetensorsHeader Parse(byte[] json, long bufferBytes, string path)
    {
        // The spec requires UTF-8; System.Text.Json defers that check to GetString, which would
        // surface as InvalidOperationException deep in parsing.
        if (!Utf8.IsValid(json)) throw new ModelFormatException(path, "safetensors header is not valid UTF-8");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new ModelFormatException(path, $"safetensors header is not valid JSON ({e.Message})", e);
        }

        try
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new ModelFormatException(path, $"safetensors header must be a JSON object, found {doc.RootElement.ValueKind}");

            var tensors = new Dictionary<string, SafetensorsTensorInfo>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                if (property.Name == "__metadata__")
                {
                    ParseMetadata(property.Value, metadata, path);
                    continue;
                }
                var info = ParseTensor(property.Name, property.Value, bufferBytes, path);
                if (!tensors.TryAdd(info.Name, info))
                    throw new ModelFormatException(path, $"tensor '{info.Name}' appears twice in the header");
            }
            CheckNoOverlap(tensors.Values, path);
            return new SafetensorsHeader(tensors, metadata);
        }
        catch (InvalidOperationException e) when (e is not ObjectDisposedException)
        {
            // Reading a string with an unpaired surrogate escape ("\uD800"): well-formed JSON, invalid text.
            throw new ModelFormatException(path, $"safetensors header holds an invalid string ({e.Message})", e);
        }
        finally
        {
            doc.Dispose();
        }
    }

    private static void ParseMetadata(JsonElement value, Dictionary<string, string> metadata, string path)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new ModelFormatException(path, "'__metadata__' must be an object of string values");
        foreach (var entry in value.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
                throw new ModelFormatException(path, $"'__metadata__' entry '{entry.Name}' must be a string, found {entry.Value.ValueKind}");
            metadata[entry.Name] = entry.Value.GetString()!;
        }
    }

    private static SafetensorsTensorInfo ParseTensor(string name, JsonElement entry, long bufferBytes, string path)
    {
        ModelFormatException Bad(string problem) => new(path, $"tensor '{name}' {problem}");

        if (entry.ValueKind != JsonValueKind.Object) throw Bad("header entry must be an object with dtype, shape and data_offsets");

        if (!entry.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw Bad("has no string 'dtype'");
        string dtypeName = dtypeElement.GetString()!;
        if (!SafetensorsDTypes.TryGetBits(dtypeName, out int bits))
            throw Bad($"has unknown dtype '{dtypeName}' (the format defines {SafetensorsDTypes.KnownNames})");

        if (!entry.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw Bad("has no 'shape' array");
        var shape = new long[shapeElement.GetArrayLength()];
        int i = 0;
        foreach (var dim in shapeElement.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long d) || d < 0)
                throw Bad($"has an invalid shape dimension {dim.GetRawText()} (must be a non-negative integer)");
            shape[i++] = d;
        }

        if (!entry.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
            throw Bad("has no 'data_offsets' pair [begin, end]");
        long begin = ReadOffset(offsets[0], Bad);
        long end = ReadOffset(offsets[1], Bad);
        if (end < begin) throw Bad($"has data_offsets [{begin}, {end}] with end before begin");
        if (end > bufferBytes)
            throw Bad($"has data_offsets [{begin}, {end}] beyond the {bufferBytes}-byte data buffer (file truncated?)");

        long expectedBytes;
        try
        {
            long elements = 1;
            foreach (long d in shape) elements = checked(elements * d);
            long totalBits = checked(elements * bits);
            if (totalBits % 8 != 0) throw Bad($"of dtype {dtypeName} and shape {SafetensorsTensorInfo.FormatShape(shape)} does not fill whole bytes");
            expectedBytes = totalBits / 8;
        }
        catch (OverflowException)
        {
            throw Bad($"has shape {SafetensorsTensorInfo.FormatShape(shape)} whose size overflows");
        }
        if (end - begin != expectedBytes)
            throw Bad($"has {end - begin} bytes (data_offsets [{begin}, {end}]) but dtype {dtypeName} and shape {SafetensorsTensorInfo.FormatShape(shape)} need {expectedBytes}");

        return new SafetensorsTensorInfo
        {
            Name = name,
            DTypeName = dtypeName,
            DType = DTypeExtensions.TryParseSafetensors(dtypeName, out var dtype) ? dtype : null,
            Shape = shape,
            DataBegin = begin,
            DataEnd = end,
        };
    }

    private static long ReadOffset(JsonElement value, Func<string, ModelFormatException> bad)
    {
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out long offset) || offset < 0)
            throw bad($"has an invalid data offset {value.GetRawText()} (must be a non-negative integer)");
        return offset;
    }

    /// <summary>
    /// Overlapping tensors would alias: merging a LoRA delta into one would silently change the
    /// other. Gaps are tolerated (the reference writer never makes them, but they are harmless).
    /// </summary>
    private static void CheckNoOverlap(IEnumerable<SafetensorsTensorInfo> tensors, string path)
    {
        var byStart = new List<SafetensorsTensorInfo>();
        foreach (var t in tensors)
            if (t.ByteCount > 0) byStart.Add(t);
        byStart.Sort((a, b) => a.DataBegin.CompareTo(b.DataBegin));
        // Compare each range with the furthest-reaching one before it, not just its neighbour.
        SafetensorsTensorInfo? reach = null;
        foreach (var current in byStart)
        {
            if (reach is not null && current.DataBegin < reach.DataEnd)
                throw new ModelFormatException(path,
                    $"tensor '{current.Name}' (data_offsets [{current.DataBegin}, {current.DataEnd}]) overlaps tensor '{reach.Name}' ([{reach.DataBegin}, {reach.DataEnd}])");
            if (reach is null || current.DataEnd > reach.DataEnd) reach = current;
        }
    }
}
