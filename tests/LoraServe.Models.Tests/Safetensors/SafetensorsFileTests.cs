using System.Runtime.InteropServices;
using LoraServe.Core.Tensors;
using LoraServe.Models.Config;
using LoraServe.Models.Safetensors;

namespace LoraServe.Models.Tests.Safetensors;

public sealed class SafetensorsFileTests : IDisposable
{
    private readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string WriteRaw(string headerJson, byte[] data, string name = "t.safetensors")
    {
        string path = _dir.File(name);
        File.WriteAllBytes(path, RawSafetensors.Build(headerJson, data));
        return path;
    }

    private static ModelFormatException OpenFails(string path)
    {
        var e = Assert.Throws<ModelFormatException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.Contains(path, e.Message);
        return e;
    }

    [Fact]
    public void Hand_built_file_with_every_float_dtype_reads_back_per_the_spec()
    {
        // Bit patterns from IEEE 754 / bfloat16 tables: bf16 1.0 = 0x3F80, -2.0 = 0xC000, 0.5 = 0x3F00, 3.0 = 0x4040;
        // f16 1.0 = 0x3C00, -2.0 = 0xC000, 0.5 = 0x3800, 65504 = 0x7BFF.
        byte[] f32 = RawSafetensors.Floats(1f, 2f, 3f, -4f, 5.5f, 6.25f);
        byte[] bf16 = RawSafetensors.UInt16s(0x3F80, 0xC000, 0x3F00, 0x4040);
        byte[] f16 = RawSafetensors.UInt16s(0x3C00, 0xC000, 0x3800, 0x7BFF);
        byte[] i64 = new byte[16];
        string header = """
            {"__metadata__":{"format":"pt"},
             "w32":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},
             "wbf":{"dtype":"BF16","shape":[2,2],"data_offsets":[24,32]},
             "v16":{"dtype":"F16","shape":[4],"data_offsets":[32,40]},
             "ids":{"dtype":"I64","shape":[2],"data_offsets":[40,56]}}
            """;
        string path = WriteRaw(header, RawSafetensors.Concat(f32, bf16, f16, i64));

        using var file = SafetensorsFile.Open(path);
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal(4, file.Tensors.Count);
        Assert.Equal("I64", file.GetInfo("ids").DTypeName);
        Assert.Null(file.GetInfo("ids").DType);

        var w32 = file.GetMatrix("w32");
        Assert.Equal((2, 3, DType.F32), (w32.Rows, w32.Cols, w32.DType));
        Assert.Equal(-4f, w32[1, 0]);
        Assert.Equal(6.25f, w32[1, 2]);

        var wbf = file.GetMatrix("wbf");
        Assert.Equal(DType.BF16, wbf.DType);
        Assert.Equal([1f, -2f, 0.5f, 3f], new[] { wbf[0, 0], wbf[0, 1], wbf[1, 0], wbf[1, 1] });

        Assert.Equal([1f, -2f, 0.5f, 65504f], file.ReadVector("v16"));
        Assert.Equal([1f, 2f, 3f, -4f, 5.5f, 6.25f], file.ReadFloats("w32"));
    }

    [Fact]
    public void Reference_implementation_bytes_read_back()
    {
        string path = _dir.File("ref.safetensors");
        File.WriteAllBytes(path, RawSafetensors.ReferenceAttn0Padded);
        using var file = SafetensorsFile.Open(path);
        var info = file.GetInfo("attn0");
        Assert.Equal([1L, 1, 2, 3], info.Shape);
        Assert.Equal(8 + 72, file.DataStart);
        Assert.Equal([0f, 1f, 2f, 3f, 4f, 5f], file.ReadFloats("attn0"));
    }

    [Fact]
    public void Matrix_is_a_view_into_the_mapping_not_a_copy()
    {
        string path = WriteRaw("""{"w":{"dtype":"BF16","shape":[1,2],"data_offsets":[0,4]}}""", RawSafetensors.UInt16s(0x3F80, 0x4040));
        using var file = SafetensorsFile.Open(path);
        var w = file.GetMatrix("w");
        Assert.Equal(file.GetDataPointer("w"), w.Data);
    }

    [Fact]
    public unsafe void Writes_through_a_view_stay_private_and_never_reach_the_file()
    {
        string path = WriteRaw("""{"w":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]}}""", RawSafetensors.Floats(1f, 2f));
        byte[] before = File.ReadAllBytes(path);
        using (var file = SafetensorsFile.Open(path))
        {
            var w = file.GetMatrix("w");
            ((float*)w.Data)[1] = 42f; // what a merged LoRA does to a mapped weight
            Assert.Equal(42f, w[0, 1]);
        }
        Assert.Equal(before, File.ReadAllBytes(path));
        using var reopened = SafetensorsFile.Open(path);
        Assert.Equal([1f, 2f], reopened.ReadFloats("w"));
    }

    [Fact]
    public void Using_a_disposed_file_throws_ObjectDisposed()
    {
        string path = WriteRaw("""{"w":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]}}""", RawSafetensors.Floats(1f));
        var file = SafetensorsFile.Open(path);
        file.Dispose();
        file.Dispose(); // idempotent
        Assert.Throws<ObjectDisposedException>(() => file.GetMatrix("w"));
    }

    [Fact]
    public void Missing_file_is_reported_with_its_path()
    {
        var e = OpenFails(_dir.File("absent.safetensors"));
        Assert.Contains("not found", e.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    public void File_shorter_than_the_length_prefix_is_rejected(int length)
    {
        string path = _dir.File("short.safetensors");
        File.WriteAllBytes(path, new byte[length]);
        var e = OpenFails(path);
        Assert.Contains("shorter than the 8-byte", e.Message);
    }

    [Fact]
    public void Header_length_past_end_of_file_is_rejected()
    {
        byte[] bytes = RawSafetensors.Build("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", RawSafetensors.Floats(1f));
        string path = _dir.File("trunc.safetensors");
        File.WriteAllBytes(path, bytes.AsSpan(0, 30).ToArray()); // cut inside the header
        var e = OpenFails(path);
        Assert.Contains("runs past the end", e.Message);
    }

    [Fact]
    public void Absurd_header_length_is_rejected()
    {
        var bytes = new byte[16];
        BitConverter.TryWriteBytes(bytes, ulong.MaxValue);
        string path = _dir.File("huge.safetensors");
        File.WriteAllBytes(path, bytes);
        var e = OpenFails(path);
        Assert.Contains("header length", e.Message);
    }

    [Theory]
    [InlineData("""{"w":{"dtype":"F32",""")]
    [InlineData("not json at all")]
    [InlineData("[1,2,3]")]
    public void Corrupt_json_header_is_rejected(string header)
    {
        var e = OpenFails(WriteRaw(header, new byte[4]));
        Assert.Contains("header", e.Message);
    }

    [Fact]
    public void Unknown_dtype_is_named()
    {
        var e = OpenFails(WriteRaw("""{"w":{"dtype":"F13","shape":[1],"data_offsets":[0,4]}}""", new byte[4]));
        Assert.Contains("tensor 'w'", e.Message);
        Assert.Contains("'F13'", e.Message);
    }

    [Fact]
    public void Offsets_beyond_the_data_buffer_are_rejected()
    {
        var e = OpenFails(WriteRaw("""{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", new byte[8]));
        Assert.Contains("tensor 'w'", e.Message);
        Assert.Contains("beyond", e.Message);
    }

    [Fact]
    public void End_offset_before_begin_is_rejected()
    {
        var e = OpenFails(WriteRaw("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}""", new byte[8]));
        Assert.Contains("tensor 'w'", e.Message);
        Assert.Contains("end before begin", e.Message);
    }

    [Fact]
    public void Overlapping_tensors_are_rejected_naming_both()
    {
        string header = """
            {"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},
             "b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},
             "c":{"dtype":"F32","shape":[1],"data_offsets":[16,20]}}
            """;
        var e = OpenFails(WriteRaw(header, new byte[20]));
        Assert.Contains("tensor 'b'", e.Message);
        Assert.Contains("'a'", e.Message);
        Assert.Contains("overlaps", e.Message);
    }

    [Fact]
    public void Byte_size_not_matching_shape_and_dtype_is_rejected()
    {
        var e = OpenFails(WriteRaw("""{"w":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,8]}}""", new byte[8]));
        Assert.Contains("tensor 'w'", e.Message);
        Assert.Contains("need 12", e.Message);
    }

    [Theory]
    [InlineData("""{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}""")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}}""")]
    [InlineData("""{"w":{"shape":[1],"data_offsets":[0,4]}}""")]
    [InlineData("""{"w":{"dtype":"F32","data_offsets":[0,4]}}""")]
    [InlineData("""{"w":[1,2]}""")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""")]
    public void Malformed_tensor_entry_is_rejected_naming_the_tensor(string header)
    {
        var e = OpenFails(WriteRaw(header, new byte[4]));
        Assert.Contains("tensor 'w'", e.Message);
    }

    [Fact]
    public void Header_with_invalid_utf8_is_rejected()
    {
        byte[] header = """{"wx":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"""u8.ToArray();
        header[3] = 0xFF; // the 'x': 0xFF never occurs in UTF-8
        string path = _dir.File("utf8.safetensors");
        var bytes = new byte[8 + header.Length + 4];
        BitConverter.TryWriteBytes(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        File.WriteAllBytes(path, bytes);
        Assert.Contains("UTF-8", OpenFails(path).Message);
    }

    [Fact]
    public void Lone_surrogate_escape_in_a_name_is_rejected()
    {
        OpenFails(WriteRaw("""{"w\uD800":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", new byte[4]));
    }

    [Fact]
    public void Non_string_metadata_is_rejected()
    {
        var e = OpenFails(WriteRaw("""{"__metadata__":{"step":3}}""", []));
        Assert.Contains("__metadata__", e.Message);
    }

    [Fact]
    public void Integer_tensor_in_header_only_fails_when_requested_as_weight()
    {
        string path = WriteRaw("""{"ids":{"dtype":"I64","shape":[1,2],"data_offsets":[0,16]}}""", new byte[16]);
        using var file = SafetensorsFile.Open(path);
        var e = Assert.Throws<ModelFormatException>(() => file.GetMatrix("ids"));
        Assert.Contains(path, e.Message);
        Assert.Contains("tensor 'ids'", e.Message);
        Assert.Contains("I64", e.Message);
        Assert.Throws<ModelFormatException>(() => file.ReadFloats("ids"));
    }

    [Fact]
    public void Requesting_a_missing_tensor_names_it_and_the_file()
    {
        string path = WriteRaw("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", new byte[4]);
        using var file = SafetensorsFile.Open(path);
        var e = Assert.Throws<ModelFormatException>(() => file.GetMatrix("nope"));
        Assert.Contains(path, e.Message);
        Assert.Contains("tensor 'nope'", e.Message);
    }

    [Fact]
    public void Rank_mismatch_is_rejected_for_matrices_and_vectors()
    {
        string path = WriteRaw("""{"v":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"m":{"dtype":"F32","shape":[1,2],"data_offsets":[8,16]}}""", new byte[16]);
        using var file = SafetensorsFile.Open(path);
        Assert.Contains("tensor 'v'", Assert.Throws<ModelFormatException>(() => file.GetMatrix("v")).Message);
        Assert.Contains("tensor 'm'", Assert.Throws<ModelFormatException>(() => file.ReadVector("m")).Message);
    }

    [Fact]
    public void Every_truncation_of_a_valid_file_fails_with_ModelFormatException()
    {
        byte[] valid = RawSafetensors.Build(
            """{"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[3],"data_offsets":[8,20]}}""",
            new byte[20]);
        string path = _dir.File("cut.safetensors");
        for (int length = 0; length < valid.Length; length++)
        {
            File.WriteAllBytes(path, valid.AsSpan(0, length).ToArray());
            var e = Record.Exception(() => SafetensorsFile.Open(path).Dispose());
            Assert.True(e is ModelFormatException, $"length {length}: {e?.GetType().Name ?? "no exception"}");
        }
    }

    [Fact]
    public void Corrupted_header_bytes_never_escape_as_anything_but_ModelFormatException()
    {
        byte[] valid = RawSafetensors.Build(
            """{"a":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[3],"data_offsets":[8,20]}}""",
            new byte[20]);
        string path = _dir.File("flip.safetensors");
        var random = new Random(1234);
        for (int trial = 0; trial < 300; trial++)
        {
            byte[] bytes = (byte[])valid.Clone();
            int flips = 1 + random.Next(3);
            for (int f = 0; f < flips; f++) bytes[random.Next(valid.Length - 20)] = (byte)random.Next(256);
            File.WriteAllBytes(path, bytes);
            var e = Record.Exception(() =>
            {
                using var file = SafetensorsFile.Open(path);
                foreach (var name in file.Tensors.Keys)
                {
                    try
                    {
                        file.ReadFloats(name);
                    }
                    catch (ModelFormatException)
                    {
                        // an unsupported dtype after a flip is a proper refusal
                    }
                }
            });
            Assert.True(e is null or ModelFormatException, $"trial {trial}: {e}");
        }
    }

    [Fact]
    public void Empty_tensors_and_gaps_are_accepted()
    {
        string header = """{"e":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""";
        using var file = SafetensorsFile.Open(WriteRaw(header, RawSafetensors.Floats(9f, 7f)));
        Assert.Equal([7f], file.ReadFloats("w"));
        Assert.Empty(file.ReadFloats("e"));
        Assert.Equal(0, MemoryMarshal.Cast<byte, float>(file.GetBytes("e")).Length);
    }
}
