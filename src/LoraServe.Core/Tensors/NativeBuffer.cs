using System.Runtime.InteropServices;

namespace LoraServe.Core.Tensors;

/// <summary>
/// A 64-byte aligned block of unmanaged memory (weights, KV cache, scratch). Aligned to a cache
/// line so Vector512 loads never split lines; unmanaged so the GC never moves or scans it.
/// </summary>
public sealed unsafe class NativeBuffer : IDisposable
{
    private void* _pointer;

    public NativeBuffer(long bytes, bool zero = true)
    {
        if (bytes < 0) throw new ArgumentOutOfRangeException(nameof(bytes), bytes, "size must be non-negative");
        Bytes = bytes;
        _pointer = NativeMemory.AlignedAlloc((nuint)Math.Max(bytes, 64), 64);
        if (zero) NativeMemory.Clear(_pointer, (nuint)Math.Max(bytes, 64));
        if (bytes > 0) GC.AddMemoryPressure(bytes);
    }

    public long Bytes { get; }

    public nint Pointer => _pointer == null ? throw new ObjectDisposedException(nameof(NativeBuffer)) : (nint)_pointer;

    public Span<T> AsSpan<T>() where T : unmanaged => new((void*)Pointer, checked((int)(Bytes / sizeof(T))));

    public void Dispose()
    {
        if (_pointer == null) return;
        NativeMemory.AlignedFree(_pointer);
        _pointer = null;
        if (Bytes > 0) GC.RemoveMemoryPressure(Bytes);
        GC.SuppressFinalize(this);
    }

    ~NativeBuffer() => Dispose();
}
