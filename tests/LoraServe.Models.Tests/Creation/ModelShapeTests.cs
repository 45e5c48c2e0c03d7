using LoraServe.Models.Config;
using LoraServe.Models.Creation;

namespace LoraServe.Models.Tests.Creation;

public sealed class ModelShapeTests
{
    [Fact]
    public void Tiny_preset_takes_its_vocabulary_from_the_caller()
    {
        var tiny = ModelShape.Preset("tiny", vocabSize: 321);
        Assert.Equal((64, 160, 2, 4, 2, 16, 321), (tiny.HiddenSize, tiny.IntermediateSize, tiny.NumLayers, tiny.NumHeads, tiny.NumKvHeads, tiny.HeadDim, tiny.VocabSize));
        Assert.True(tiny.TieWordEmbeddings);
        Assert.Throws<ArgumentException>(() => ModelShape.Preset("tiny"));
    }

    [Fact]
    public void Unknown_preset_lists_the_known_ones()
    {
        var e = Assert.Throws<ArgumentException>(() => ModelShape.Preset("gpt-5"));
        Assert.Contains("tiny", e.Message);
        Assert.Contains("smollm2-135m", e.Message);
    }

    [Fact]
    public void Derived_variants_change_only_what_they_name()
    {
        var tiny = ModelShape.Tiny(100);
        var qwen = tiny.AsQwen2();
        Assert.Equal(ModelArchitecture.Qwen2, qwen.Architecture);
        Assert.True(qwen.ToConfig().QkvBias);
        Assert.False(qwen.ToConfig().OutputBias);
        Assert.Equal(tiny.HiddenSize, qwen.HiddenSize);

        var untied = tiny.Untied();
        Assert.False(untied.TieWordEmbeddings);
        Assert.Equal(tiny.Architecture, untied.Architecture);

        var scaled = tiny.WithLlama3RopeScaling();
        Assert.Equal(8.0, scaled.RopeScaling!.Factor);
        Assert.Equal(tiny.MaxPositionEmbeddings, scaled.RopeScaling.OriginalMaxPositionEmbeddings);

        var biased = tiny.WithLlamaBiases(attention: true, mlp: false).ToConfig();
        Assert.True(biased.QkvBias && biased.OutputBias);
        Assert.False(biased.MlpBias);
    }

    [Fact]
    public void Invalid_shapes_are_rejected_before_writing()
    {
        Assert.Throws<ArgumentException>(() => (ModelShape.Tiny(100) with { NumKvHeads = 3 }).Validate());
        Assert.Throws<ArgumentException>(() => (ModelShape.Tiny(100) with { HeadDim = 15 }).Validate());
        Assert.Throws<ArgumentException>(() => (ModelShape.Tiny(100) with { HeadDim = 32 }).AsQwen2().Validate());
        Assert.Throws<ArgumentException>(() => ModelShape.Tiny(100).WithTokens(100, 100, []).Validate());
        ModelShape.Tiny(100).WithLlama3RopeScaling().Validate();
    }
}
