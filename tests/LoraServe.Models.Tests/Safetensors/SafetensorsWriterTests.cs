using System.Buffers.Binary;
using System.Text;
using LoraServe.Core.Tensors;
using LoraServe.Models.Safetensors;

namespace LoraServe.Models.Tests.Safetensors;

public sealed class SafetensorsWriterTests : IDisposable
{
    private readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Output_is_byte_identical_to_the_reference_implementation()
    {
        var writer = new SafetensorsWriter();
        writer.Add("attn.0", DType.F32, [1, 2, 3], [0f, 1f, 2f, 3f, 4f, 5f]);
        var stream = new MemoryStream();
        writer.Save(stream);
        Assert.Equal(RawSafetensors.ReferenceAttn0, stream.ToArray());
    }

    [Fact]
    public void Header_is_padded_with_spaces_to_8_bytes_like_the_reference()
    {
        var writer = new SafetensorsWriter();
        writer.Add("attn0", DType.F32, [1, 1, 2, 3], [0f, 1f, 2f, 3f, 4f, 5f]);
        var stream = new MemoryStream();
        writer.Save(stream);
        Assert.Equal(RawSafetensors.ReferenceAttn0Padded, stream.ToArray());
    }

    [Fact]
    public void Metadata_comes_first_and_data_is_ordered_widest_dtype_then_name()
    {
        string path = _dir.File("mixed.safetensors");
        var writer = new SafetensorsWriter(new Dictionary<string, string> { ["format"] = "pt" });
        writer.Add("a", DType.F16, [3], [1f, 2f, 3f]);
        writer.Add("c", DType.BF16, [1], [1f]);
        writer.Add("b", DType.F32, [1], [1f]);
        writer.Add("d", DType.F32, [1], [1f]);
        writer.Save(path);

        byte[] bytes = File.ReadAllBytes(path);
        int n = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0, n % 8);
        string header = Encoding.UTF8.GetString(bytes, 8, n);
        Assert.Equal(
            """{"__metadata__":{"format":"pt"},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"d":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"c":{"dtype":"BF16","shape":[1],"data_offsets":[8,10]},"a":{"dtype":"F16","shape":[3],"data_offsets":[10,16]}}""",
            header.TrimEnd(' '));
        Assert.Equal(8 + n + 16, bytes.Length);
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F16)]
    [InlineData(DType.BF16)]
    public void Round_trip_through_the_reader_preserves_representable_values(DType dtype)
    {
        // Every value is exact in all three dtypes, so they must come back unchanged.
        float[] matrix = [1f, -2f, 0.5f, 0.25f, 3f, -0.125f];
        float[] vector = [1f, 0f, -1.5f];
        string path = _dir.File($"rt-{dtype}.safetensors");
        var writer = new SafetensorsWriter(new Dictionary<string, string> { ["format"] = "pt" });
        writer.Add("m", dtype, [2, 3], matrix);
        writer.Add("v", dtype, [3], vector);
        writer.Save(path);

        using var file = SafetensorsFile.Open(path);
        var m = file.GetMatrix("m");
        Assert.Equal((2, 3, dtype), (m.Rows, m.Cols, m.DType));
        Assert.Equal(matrix, file.ReadFloats("m"));
        Assert.Equal(vector, file.ReadVector("v"));
        Assert.Equal("pt", file.Metadata["format"]);
    }

    [Fact]
    public void BF16_narrowing_rounds_to_nearest_even()
    {
        // 1 + 2^-8 lies halfway between bf16 1.0 (0x3F80, even) and 1.0078125 (0x3F81): goes down.
        // 1 + 3·2^-8 lies halfway between 0x3F81 (odd) and 1.015625 (0x3F82, even): goes up.
        // 1 + 2^-8 + 2^-20 is just above halfway: goes up to 0x3F81.
        float[] values = [1f + MathF.Pow(2, -8), 1f + 3 * MathF.Pow(2, -8), 1f + MathF.Pow(2, -8) + MathF.Pow(2, -20)];
        string path = _dir.File("bf16.safetensors");
        var writer = new SafetensorsWriter();
        writer.Add("x", DType.BF16, [3], values);
        writer.Save(path);
        using var file = SafetensorsFile.Open(path);
        Assert.Equal(new byte[] { 0x80, 0x3F, 0x82, 0x3F, 0x81, 0x3F }, file.GetBytes("x").ToArray());
    }

    [Fact]
    public void F16_narrowing_rounds_to_nearest_even()
    {
        // f16 has 10 fraction bits: 1 + 2^-11 is halfway to 1 + 2^-10 → even (1.0, 0x3C00);
        // 1 + 3·2^-11 is halfway between 0x3C01 and 0x3C02 → 0x3C02; 65520 is halfway to 65536 → +inf (0x7C00).
        float[] values = [1f + MathF.Pow(2, -11), 1f + 3 * MathF.Pow(2, -11), 65520f];
        string path = _dir.File("f16.safetensors");
        var writer = new SafetensorsWriter();
        writer.Add("x", DType.F16, [3], values);
        writer.Save(path);
        using var file = SafetensorsFile.Open(path);
        Assert.Equal(new byte[] { 0x00, 0x3C, 0x02, 0x3C, 0x00, 0x7C }, file.GetBytes("x").ToArray());
    }

    [Fact]
    public void Filled_tensor_larger_than_one_chunk_is_streamed_in_order()
    {
        const int count = 200_003; // several chunks plus a tail
        string path = _dir.File("big.safetensors");
        var writer = new SafetensorsWriter();
        writer.Add("big", DType.F32, [count], (start, destination) =>
        {
            for (int i = 0; i < destination.Length; i++) destination[i] = start + i;
        });
        writer.Save(path);
        Assert.Equal(count * 4L, writer.DataBytes);

        using var file = SafetensorsFile.Open(path);
        float[] read = file.ReadFloats("big");
        for (int i = 0; i < count; i++)
            if (read[i] != i) Assert.Fail($"element {i} is {read[i]}");
    }

    [Fact]
    public void Invalid_tensors_are_rejected_when_added()
    {
        var writer = new SafetensorsWriter();
        writer.Add("w", DType.F32, [1], [1f]);
        Assert.Throws<ArgumentException>(() => writer.Add("w", DType.F32, [1], [1f]));
        Assert.Throws<ArgumentException>(() => writer.Add("__metadata__", DType.F32, [1], [1f]));
        Assert.Throws<ArgumentException>(() => writer.Add("x", DType.F32, [2, 2], [1f]));
        Assert.Throws<ArgumentException>(() => writer.Add("y", DType.F32, [-1], []));
    }
}
