using System.Runtime.Intrinsics;

namespace LoraServe.Core.Tensors;

/// <summary>
/// bfloat16 <-> float32 conversions. BF16 is the top half of an IEEE float32, so widening is
/// a 16-bit shift; narrowing rounds to nearest even (the rounding PyTorch uses), NaN kept NaN.
/// </summary>
public static class BFloat16
{
    public static float ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    public static ushort FromSingle(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x40);
        uint roundingBias = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + roundingBias) >> 16);
    }

    /// <summary><see cref="FromSingle(float)"/> on 16 lanes: (bits + 0x7FFF + lsb) &gt;&gt; 16, NaN made quiet.</summary>
    public static Vector256<ushort> FromSingle(Vector512<float> value)
    {
        var bits = value.AsUInt32();
        var high = Vector512.ShiftRightLogical(bits, 16);
        var rounded = Vector512.ShiftRightLogical(bits + Vector512.Create(0x7FFFu) + (high & Vector512.Create(1u)), 16);
        var nan = ~Vector512.Equals(value, value).AsUInt32();
        var result = Vector512.ConditionalSelect(nan, high | Vector512.Create(0x40u), rounded);
        return Vector512.Narrow(result, result).GetLower();
    }

    /// <summary>destination[i] = <see cref="FromSingle(float)"/>(source[i]), 16 at a time where Vector512 is accelerated.</summary>
    public static unsafe void FromSingle(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        if (destination.Length < source.Length)
            throw new ArgumentException($"destination holds {destination.Length} elements, source {source.Length}", nameof(destination));
        int i = 0;
        fixed (float* s = source)
        fixed (ushort* d = destination)
        {
            if (Vector512.IsHardwareAccelerated)
                for (; i + 16 <= source.Length; i += 16) FromSingle(Vector512.Load(s + i)).Store(d + i);
            for (; i < source.Length; i++) d[i] = FromSingle(s[i]);
        }
    }
}
