using System.Runtime.InteropServices;

namespace LoraServe.Core.Threading;

/// <summary>
/// Per-thread, 64-byte aligned float scratch that only grows: kernels borrow it for packing
/// blocks and score rows so the hot path never allocates. Each slot is a separate buffer, so a
/// kernel can hold several at once (e.g. GEMM's padded x on the caller and its packed W block,
/// which the caller also needs because it works as a pool thread too). The buffers live as long
/// as their thread; pool threads are few and permanent, so that bound is the pool size.
/// </summary>
internal static unsafe class ThreadScratch
{
    public const int Slots = 3;

    [ThreadStatic] private static Buffers? _buffers;

    /// <summary>At least <paramref name="floats"/> floats in slot <paramref name="slot"/>; contents undefined.</summary>
    public static float* Get(int slot, long floats)
    {
        var b = _buffers ??= new Buffers();
        if (b.Capacity[slot] < floats)
        {
            if (b.Pointers[slot] != null) NativeMemory.AlignedFree(b.Pointers[slot]);
            long grown = Math.Max(floats, b.Capacity[slot] * 2);
            b.Pointers[slot] = (float*)NativeMemory.AlignedAlloc((nuint)(grown * sizeof(float)), 64);
            b.Capacity[slot] = grown;
        }
        return b.Pointers[slot];
    }

    private sealed class Buffers
    {
        public readonly float*[] Pointers = new float*[Slots];
        public readonly long[] Capacity = new long[Slots];

        ~Buffers()
        {
            for (int i = 0; i < Slots; i++)
                if (Pointers[i] != null) NativeMemory.AlignedFree(Pointers[i]);
        }
    }
}
