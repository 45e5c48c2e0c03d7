using LoraServe.Core.Tensors;

namespace LoraServe.Models.Safetensors;

/// <summary>
/// One header entry of a safetensors file, validated: the dtype is one the format defines, the
/// byte range lies inside the data buffer and holds exactly product(shape) elements.
/// </summary>
public sealed record SafetensorsTensorInfo
{
    public required string Name { get; init; }

    /// <summary>The header spelling ("BF16", "I64" …).</summary>
    public required string DTypeName { get; init; }

    /// <summary>The engine's dtype when the tensor is F32/F16/BF16; null for the others (I64, F8 …).</summary>
    public DType? DType { get; init; }

    public required long[] Shape { get; init; }

    /// <summary>Start of the data, relative to the byte buffer after the header ("data_offsets"[0]).</summary>
    public required long DataBegin { get; init; }

    /// <summary>"data_offsets"[1], exclusive.</summary>
    public required long DataEnd { get; init; }

    public long ByteCount => DataEnd - DataBegin;

    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (long d in Shape) n *= d;
            return n;
        }
    }

    public string ShapeText => FormatShape(Shape);

    public static string FormatShape(ReadOnlySpan<long> shape) => "[" + string.Join(", ", shape.ToArray()) + "]";
}
