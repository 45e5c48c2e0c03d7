using LoraServe.Lora.Adapters;

namespace LoraServe.Engine.LoraBatching;

/// <summary>
/// What an adapter costs the cost model: the bytes of A and B an unmerged step reads (and, per
/// token row, multiplies through), and the work of a merge — every targeted weight element is
/// rewritten (<see cref="MergeElements"/>) after a rank-r product forms its delta
/// (<see cref="MergeMacs"/> = Σ out·in·r).
/// </summary>
public readonly record struct AdapterProfile(long Bytes, long MergeElements, long MergeMacs)
{
    public static AdapterProfile Of(LoraAdapter adapter)
    {
        ArgumentNullException.ThrowIfNull(adapter);
        long elements = 0, macs = 0;
        foreach (var m in adapter.Modules)
        {
            long e = (long)m.OutFeatures * m.InFeatures;
            elements += e;
            macs += e * m.Rank;
        }
        return new AdapterProfile(adapter.ByteCount, elements, macs);
    }
}
