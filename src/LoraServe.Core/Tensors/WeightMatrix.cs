namespace LoraServe.Core.Tensors;

/// <summary>
/// A row-major weight matrix of shape (Rows, Cols) in its stored dtype, as PyTorch's
/// nn.Linear keeps it: (out_features, in_features). The memory belongs to someone else
/// (a memory-mapped safetensors file or a <see cref="NativeBuffer"/>); this is a view.
/// 16-bit weights stay 16-bit: kernels widen them on the fly.
/// </summary>
public sealed unsafe class WeightMatrix
{
    public WeightMatrix(nint data, int rows, int cols, DType dtype, string name = "")
    {
        if (rows <= 0 || cols <= 0) throw new ArgumentException($"weight '{name}' has non-positive shape ({rows}, {cols})");
        Data = data;
        Rows = rows;
        Cols = cols;
        DType = dtype;
        Name = name;
    }

    /// <summary>Address of element (0, 0).</summary>
    public nint Data { get; }

    public int Rows { get; }

    public int Cols { get; }

    public DType DType { get; }

    public string Name { get; }

    public long ByteCount => (long)Rows * Cols * DType.SizeInBytes();

    /// <summary>One element widened to float. For tests and slow paths, not kernels.</summary>
    public float this[int row, int col]
    {
        get
        {
            if ((uint)row >= (uint)Rows || (uint)col >= (uint)Cols) throw new IndexOutOfRangeException($"({row}, {col}) outside ({Rows}, {Cols}) of '{Name}'");
            long i = (long)row * Cols + col;
            return DType switch
            {
                DType.F32 => ((float*)Data)[i],
                DType.F16 => (float)((Half*)Data)[i],
                DType.BF16 => BFloat16.ToSingle(((ushort*)Data)[i]),
                _ => throw new InvalidOperationException(),
            };
        }
    }

    /// <summary>Copies row <paramref name="row"/> widened to float into <paramref name="destination"/>.</summary>
    public void ReadRow(int row, Span<float> destination)
    {
        if ((uint)row >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(row));
        if (destination.Length < Cols) throw new ArgumentException("destination shorter than a row", nameof(destination));
        long start = (long)row * Cols;
        switch (DType)
        {
            case DType.F32:
                new ReadOnlySpan<float>((float*)Data + start, Cols).CopyTo(destination);
                break;
            case DType.F16:
                System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>((Half*)Data + start, Cols), destination);
                break;
            case DType.BF16:
                fixed (float* dst = destination)
                    Kernels.WeightWidening.WidenBf16((ushort*)Data + start, dst, Cols, Kernels.KernelIsa.Current);
                break;
        }
    }
}
