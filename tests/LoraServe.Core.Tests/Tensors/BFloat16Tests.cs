using LoraServe.Core.Tensors;
using LoraServe.Core.Tests.Kv;
using LoraServe.Testing;

namespace LoraServe.Core.Tests.Tensors;

public sealed class BFloat16Tests
{
    /// <summary>
    /// The span conversion (16 lanes at a time, then a scalar tail) rounds every float exactly as the
    /// hand-derived table and the tests' own rounding say: the table's edge cases, NaNs of both signs,
    /// and 100,003 random bit patterns (every exponent, so subnormals, infinities and NaNs included).
    /// </summary>
    [Fact]
    public void Span_conversion_rounds_to_nearest_even_in_every_lane()
    {
        var rng = new Random(17);
        var inputs = new List<uint>();
        foreach (var (input, _) in PagedKvCacheTests.Roundings) inputs.Add(input);
        inputs.AddRange([0x7FC00001, 0xFF800001, 0x7F800001]);
        while (inputs.Count < 100_003) inputs.Add((uint)rng.NextInt64(0, 1L << 32));
        var source = inputs.Select(BitConverter.UInt32BitsToSingle).ToArray();
        var destination = new ushort[source.Length];
        BFloat16.FromSingle(source, destination);
        for (int i = 0; i < source.Length; i++)
        {
            if (float.IsNaN(source[i]))
            {
                Assert.True(float.IsNaN(BFloat16.ToSingle(destination[i])), $"lane {i}: NaN {inputs[i]:X8} became {destination[i]:X4}");
                Assert.Equal(inputs[i] >> 31, (uint)destination[i] >> 15);
            }
            else Assert.True(Bf16Rounding.Bits(source[i]) == destination[i], $"lane {i}: {inputs[i]:X8} → {destination[i]:X4}, expected {Bf16Rounding.Bits(source[i]):X4}");
        }
        foreach (var (input, output) in PagedKvCacheTests.Roundings)
            Assert.Equal(output, BFloat16.FromSingle(BitConverter.UInt32BitsToSingle(input)));
    }

    [Fact]
    public void Span_conversion_refuses_a_short_destination()
    {
        var ex = Assert.Throws<ArgumentException>(() => BFloat16.FromSingle(new float[17], new ushort[16]));
        Assert.Contains("16", ex.Message);
    }
}
