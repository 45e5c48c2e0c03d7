namespace LoraServe.Testing;

/// <summary>
/// The tests' own float32 → bfloat16 rounding (shares no code with the engine's BFloat16): keep the
/// top 16 bits and round to nearest with ties to an even last kept bit — the dropped low half
/// decides (above half → up; exactly half → up only when the kept last bit is odd). A carry out of
/// the mantissa steps the exponent (the largest finite values round to infinity). NaN stays NaN.
/// Compiled into LoraServe.Testing and linked into LoraServe.Core.Tests.
/// </summary>
public static class Bf16Rounding
{
    /// <summary>The bfloat16 bit pattern nearest <paramref name="f"/>.</summary>
    public static ushort Bits(float f)
    {
        uint bits = BitConverter.SingleToUInt32Bits(f);
        if (float.IsNaN(f)) return (ushort)((bits >> 16) | 0x0040); // keep it a (quiet) NaN
        uint kept = bits & 0xFFFF0000u, dropped = bits & 0xFFFFu;
        bool lastKeptOdd = (kept & 0x10000u) != 0;
        if (dropped > 0x8000u || (dropped == 0x8000u && lastKeptOdd)) kept += 0x10000u;
        return (ushort)(kept >> 16);
    }

    /// <summary><paramref name="f"/> rounded to the nearest bfloat16, as a float32.</summary>
    public static float Round(float f) => BitConverter.UInt32BitsToSingle((uint)Bits(f) << 16);

    public static float[] Round(float[] values) => Array.ConvertAll(values, Round);
}
