using LoraServe.Core.Tensors;
using LoraServe.Training.Kernels;

namespace LoraServe.Training.Model;

/// <summary>
/// Wᵀ of a weight matrix (in, out), in W's own dtype, so dX = dY·W runs as the inference GEMM's
/// dY·(Wᵀ)ᵀ. Built once for a frozen base (LoRA mode costs one extra copy of the base weights);
/// in full-parameter mode <see cref="Refresh"/> re-transposes after every optimizer step.
/// </summary>
public sealed unsafe class TransposedWeight : IDisposable
{
    private readonly NativeBuffer _buffer;

    public TransposedWeight(WeightMatrix source)
    {
        Source = source;
        _buffer = new NativeBuffer(source.ByteCount, zero: false);
        Matrix = new WeightMatrix(_buffer.Pointer, source.Cols, source.Rows, source.DType, source.Name + "ᵀ");
        Refresh();
    }

    public WeightMatrix Source { get; }

    /// <summary>(Source.Cols, Source.Rows).</summary>
    public WeightMatrix Matrix { get; }

    public void Refresh()
    {
        long n = (long)Source.Rows * Source.Cols;
        if (Source.DType == DType.F32)
            Transpose.Apply(new ReadOnlySpan<float>((void*)Source.Data, (int)n), Source.Rows, Source.Cols, new Span<float>((void*)_buffer.Pointer, (int)n));
        else
            Transpose.Apply(new ReadOnlySpan<ushort>((void*)Source.Data, (int)n), Source.Rows, Source.Cols, new Span<ushort>((void*)_buffer.Pointer, (int)n));
    }

    public void Dispose() => _buffer.Dispose();
}
