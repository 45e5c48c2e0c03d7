using LoraServe.Core.Kv;
using LoraServe.Core.Tensors;
using LoraServe.Testing;

namespace LoraServe.Core.Tests.Kv;

public sealed unsafe class PagedKvCacheTests
{
    [Theory]
    [InlineData(DType.F32, 4)]
    [InlineData(DType.BF16, 2)]
    public void Size_follows_the_element_type(DType dtype, int elementSize)
    {
        // 3 layers × (K, V) × 5 blocks × (4 slots × 2 heads × 6 dims) elements.
        using var cache = new PagedKvCache(3, 5, 4, 2, 6, dtype);
        Assert.Equal(dtype, cache.DType);
        Assert.Equal(elementSize, cache.ElementSize);
        Assert.Equal(48, cache.BlockStride);
        Assert.Equal(3L * 2 * 5 * 48 * elementSize, cache.Bytes);
        // Rows are elementSize·(heads·dims) bytes apart, planes BlockStride·NumBlocks elements.
        Assert.Equal(12L * elementSize, (byte*)cache.RowAddress(0, false, 0, 1) - (byte*)cache.RowAddress(0, false, 0, 0));
        Assert.Equal(5L * 48 * elementSize, (byte*)cache.RowAddress(0, true, 0, 0) - (byte*)cache.RowAddress(0, false, 0, 0));
        Assert.Equal(3L * 5 * 48 * elementSize, (byte*)cache.RowAddress(1, true, 1, 2) - (byte*)cache.RowAddress(0, false, 1, 2));
    }

    [Fact]
    public void Default_is_f32()
    {
        using var cache = new PagedKvCache(1, 1, 1, 1, 1);
        Assert.Equal(DType.F32, cache.DType);
    }

    [Fact]
    public void Unsupported_dtype_is_rejected_by_name()
    {
        var ex = Assert.Throws<ArgumentException>(() => new PagedKvCache(1, 2, 4, 1, 8, DType.F16));
        Assert.Contains("F16", ex.Message);
    }

    [Fact]
    public void Float_rows_are_only_for_an_f32_cache()
    {
        using var bf16 = new PagedKvCache(1, 2, 4, 1, 8, DType.BF16);
        var ex = Assert.Throws<InvalidOperationException>(() => { _ = bf16.Row(0, false, 0, 0); });
        Assert.Contains("BF16", ex.Message);
        using var f32 = new PagedKvCache(1, 2, 4, 1, 8);
        Assert.True(f32.Row(0, true, 1, 3) == (float*)f32.RowAddress(0, true, 1, 3));
    }

    // float32 input bits → the bfloat16 bits round-to-nearest-even gives, worked out by hand:
    // keep the top 16 bits, look at the dropped 16.
    public static readonly (uint In, ushort Out)[] Roundings =
    [
        (0x3F800000, 0x3F80), // 1.0: exact
        (0xC0200000, 0xC020), // −2.5: exact
        (0x3F807FFF, 0x3F80), // 1 + just under half an ulp: down
        (0x3F808001, 0x3F81), // 1 + just over half an ulp: up
        (0x3F808000, 0x3F80), // tie, kept last bit even (0x3F80): stays
        (0x3F818000, 0x3F82), // tie, kept last bit odd (0x3F81): up to even
        (0xBF818000, 0xBF82), // the same tie, negative: magnitude up
        (0x3FFF8000, 0x4000), // tie from odd 0x3FFF: the carry steps the exponent (1.99609375 → 2)
        (0x7F7FFFFF, 0x7F80), // largest finite float: rounds to +∞
        (0xFF800000, 0xFF80), // −∞ stays
        (0x80000000, 0x8000), // −0 stays
        (0x00008000, 0x0000), // subnormal tie, even: to +0
        (0x00018000, 0x0002), // subnormal tie, odd: up
    ];

    /// <summary>The tests' own rounding (the attention and model references use it) against the same table.</summary>
    [Fact]
    public void Test_side_rounding_matches_the_hand_derived_table()
    {
        foreach (var (input, output) in Roundings)
            Assert.Equal(output, Bf16Rounding.Bits(BitConverter.UInt32BitsToSingle(input)));
        Assert.True(float.IsNaN(Bf16Rounding.Round(BitConverter.UInt32BitsToSingle(0xFF800001))));
    }

    [Fact]
    public void Bf16_write_stores_values_rounded_to_nearest_even()
    {
        // 2 tokens at positions 1 and 2 with blocks of 2: position 1 → block 2 slot 1, position 2 → block 0 slot 0.
        // Rows of 38: two 16-lane vectors and a scalar tail of 6.
        const int heads = 2, dim = 19, rowLen = heads * dim;
        using var cache = new PagedKvCache(2, 3, 2, heads, dim, DType.BF16);
        var k = new float[2 * rowLen];
        var v = new float[2 * rowLen];
        for (int i = 0; i < k.Length; i++)
        {
            k[i] = BitConverter.UInt32BitsToSingle(Roundings[i % Roundings.Length].In);
            v[i] = BitConverter.UInt32BitsToSingle(Roundings[(i + 5) % Roundings.Length].In);
        }
        k[3] = BitConverter.UInt32BitsToSingle(0x7FC00001); // quiet NaN
        v[20] = BitConverter.UInt32BitsToSingle(0xFF800001); // signalling NaN, negative: truncating alone would give −∞
        cache.Write(1, [2, 0], 1, k, v, 2);

        for (int t = 0; t < 2; t++)
        {
            var kRow = (ushort*)cache.RowAddress(1, false, t == 0 ? 2 : 0, t == 0 ? 1 : 0);
            var vRow = (ushort*)cache.RowAddress(1, true, t == 0 ? 2 : 0, t == 0 ? 1 : 0);
            for (int i = 0; i < rowLen; i++)
            {
                int e = t * rowLen + i;
                if (e == 3) AssertNaN(kRow[i], negative: false);
                else Assert.Equal(Roundings[e % Roundings.Length].Out, kRow[i]);
                if (e == 20) AssertNaN(vRow[i], negative: true);
                else Assert.Equal(Roundings[(e + 5) % Roundings.Length].Out, vRow[i]);
            }
        }
        // Layer 0 and the untouched slots stay zero.
        Assert.Equal(0, ((ushort*)cache.RowAddress(0, false, 2, 1))[0]);
        Assert.Equal(0, ((ushort*)cache.RowAddress(1, false, 2, 0))[0]);
    }

    private static void AssertNaN(ushort bits, bool negative)
    {
        Assert.Equal(0x7F80, bits & 0x7F80); // exponent all ones
        Assert.NotEqual(0, bits & 0x007F);   // mantissa not zero: NaN, not ∞
        Assert.Equal(negative, (bits & 0x8000) != 0);
    }

    [Fact]
    public void F32_write_stores_values_unchanged()
    {
        using var cache = new PagedKvCache(1, 2, 2, 1, 3);
        float[] k = [1.00390625f, -3e-39f, float.MaxValue], v = [0.1f, -0.2f, 0.3f];
        cache.Write(0, [1], 1, k, v, 1);
        Assert.Equal(k, new ReadOnlySpan<float>(cache.Row(0, false, 1, 1), 3).ToArray());
        Assert.Equal(v, new ReadOnlySpan<float>(cache.Row(0, true, 1, 1), 3).ToArray());
    }
}
