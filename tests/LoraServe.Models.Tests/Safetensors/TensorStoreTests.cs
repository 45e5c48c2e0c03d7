using LoraServe.Core.Tensors;
using LoraServe.Models.Config;
using LoraServe.Models.Creation;
using LoraServe.Models.Safetensors;

namespace LoraServe.Models.Tests.Safetensors;

public sealed class TensorStoreTests : IDisposable
{
    private readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private void WriteShard(string name, string headerJson, byte[] data) =>
        File.WriteAllBytes(_dir.File(name), RawSafetensors.Build(headerJson, data));

    [Fact]
    public void Hand_built_shards_are_found_through_the_index()
    {
        WriteShard("model-00001-of-00002.safetensors", """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", RawSafetensors.Floats(1f));
        WriteShard("model-00002-of-00002.safetensors", """{"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", RawSafetensors.Floats(2f));
        File.WriteAllText(_dir.File(TensorStore.IndexFileName), """
            {"metadata":{"total_size":8},
             "weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}}
            """);

        using var store = TensorStore.Open(_dir.Path);
        Assert.Equal(2, store.Files.Count);
        Assert.Equal([1f], store.ReadVector("a"));
        Assert.Equal([2f], store.ReadVector("b"));
        Assert.EndsWith("model-00002-of-00002.safetensors", store.FileOf("b").Path);
    }

    [Fact]
    public void Sharded_model_holds_the_same_tensors_as_unsharded()
    {
        var shape = ModelShape.Tiny(vocabSize: 97);
        using var one = new TestDirectory();
        using var three = new TestDirectory();
        RandomModelWriter.Write(one.Path, shape, seed: 7, DType.BF16, shards: 1);
        RandomModelWriter.Write(three.Path, shape, seed: 7, DType.BF16, shards: 3);

        using var single = TensorStore.Open(one.Path);
        using var sharded = TensorStore.Open(three.Path);
        Assert.Single(single.Files);
        Assert.Equal(3, sharded.Files.Count);
        var names = single.TensorNames.Order().ToArray();
        Assert.Equal(names, sharded.TensorNames.Order().ToArray());
        foreach (var name in names)
        {
            Assert.Equal(single.GetInfo(name).Shape, sharded.GetInfo(name).Shape);
            Assert.True(single.FileOf(name).GetBytes(name).SequenceEqual(sharded.FileOf(name).GetBytes(name)), $"tensor {name} differs");
        }
    }

    [Fact]
    public void Missing_shard_is_named_with_the_tensor_that_needs_it()
    {
        WriteShard("s1.safetensors", """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", RawSafetensors.Floats(1f));
        File.WriteAllText(_dir.File(TensorStore.IndexFileName), """{"weight_map":{"a":"s1.safetensors","b":"s2.safetensors"}}""");
        var e = Assert.Throws<ModelFormatException>(() => TensorStore.Open(_dir.Path));
        Assert.Contains("s2.safetensors", e.Message);
        Assert.Contains("tensor 'b'", e.Message);
        Assert.Contains(_dir.File(TensorStore.IndexFileName), e.Message);
    }

    [Fact]
    public void Index_entry_absent_from_its_shard_is_rejected()
    {
        WriteShard("s1.safetensors", """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", RawSafetensors.Floats(1f));
        File.WriteAllText(_dir.File(TensorStore.IndexFileName), """{"weight_map":{"a":"s1.safetensors","ghost":"s1.safetensors"}}""");
        var e = Assert.Throws<ModelFormatException>(() => TensorStore.Open(_dir.Path));
        Assert.Contains("tensor 'ghost'", e.Message);
        Assert.Contains(_dir.File("s1.safetensors"), e.Message);
    }

    [Theory]
    [InlineData("../elsewhere.safetensors")]
    [InlineData("/etc/passwd")]
    public void Index_pointing_outside_the_model_directory_is_rejected(string shard)
    {
        File.WriteAllText(_dir.File(TensorStore.IndexFileName), $$$"""{"weight_map":{"a":"{{{shard}}}"}}""");
        var e = Assert.Throws<ModelFormatException>(() => TensorStore.Open(_dir.Path));
        Assert.Contains("tensor 'a'", e.Message);
        Assert.Contains("not a plain file name", e.Message);
    }

    [Theory]
    [InlineData("{not json")]
    [InlineData("""{"metadata":{}}""")]
    public void Broken_index_is_rejected_naming_the_index(string json)
    {
        File.WriteAllText(_dir.File(TensorStore.IndexFileName), json);
        var e = Assert.Throws<ModelFormatException>(() => TensorStore.Open(_dir.Path));
        Assert.Contains(_dir.File(TensorStore.IndexFileName), e.Message);
    }

    [Fact]
    public void Pickle_only_directory_is_refused_with_a_clear_reason()
    {
        File.WriteAllBytes(_dir.File("pytorch_model.bin"), [0x80, 0x02]);
        var e = Assert.Throws<ModelFormatException>(() => TensorStore.Open(_dir.Path));
        Assert.Contains(_dir.Path, e.Message);
        Assert.Contains("pickle", e.Message);
        Assert.Contains("not supported", e.Message);
    }

    [Fact]
    public void Directory_without_weights_is_reported()
    {
        var e = Assert.Throws<ModelFormatException>(() => TensorStore.Open(_dir.Path));
        Assert.Contains(TensorStore.SingleFileName, e.Message);
        Assert.Contains(_dir.Path, e.Message);
    }

    [Fact]
    public void Missing_directory_is_reported()
    {
        string missing = _dir.File("nope");
        var e = Assert.Throws<ModelFormatException>(() => TensorStore.Open(missing));
        Assert.Contains(missing, e.Message);
    }

    [Fact]
    public void Tensor_missing_from_every_file_is_named()
    {
        WriteShard(TensorStore.SingleFileName, """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", RawSafetensors.Floats(1f));
        using var store = TensorStore.Open(_dir.Path);
        var e = Assert.Throws<ModelFormatException>(() => store.GetMatrix("model.norm.weight"));
        Assert.Contains("tensor 'model.norm.weight'", e.Message);
        Assert.Contains(_dir.File(TensorStore.SingleFileName), e.Message);
    }
}
