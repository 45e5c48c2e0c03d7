namespace LoraServe.Training.Kernels;

/// <summary>
/// Grow-only scratch arrays keyed by slot, owned by one training step at a time: after the first
/// step of a shape nothing in the step allocates. Contents are undefined on every <see cref="Get"/>.
/// </summary>
public sealed class Workspace
{
    private float[][] _slots = [];

    public Span<float> Get(int slot, long length)
    {
        if (slot >= _slots.Length) Array.Resize(ref _slots, slot + 1);
        ref var a = ref _slots[slot];
        if (a is null || a.Length < length) a = GC.AllocateUninitializedArray<float>(checked((int)Math.Max(length, (a?.Length ?? 0) * 3L / 2)));
        return a.AsSpan(0, (int)length);
    }
}
