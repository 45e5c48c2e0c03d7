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
}
