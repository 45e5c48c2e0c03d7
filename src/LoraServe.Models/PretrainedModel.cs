using LoraServe.Models.Config;
using LoraServe.Models.Llama;
using LoraServe.Models.Tokenization;
using LoraServe.Models.Weights;

namespace LoraServe.Models;

/// <summary>
/// Everything loaded from one Hugging Face model directory: config, weights (placed as
/// <see cref="WeightPlacement"/> says) as a runnable <see cref="LlamaModel"/>, and the tokenizer
/// with its BOS/EOS conventions.
/// </summary>
public sealed class PretrainedModel : IDisposable
{
    private PretrainedModel(string directory, ModelConfig config, LlamaModel model, HfTokenizer tokenizer)
    {
        Directory = directory;
        Config = config;
        Model = model;
        Tokenizer = tokenizer;
    }

    public string Directory { get; }
    public ModelConfig Config { get; }
    public LlamaModel Model { get; }
    public HfTokenizer Tokenizer { get; }

    /// <summary>Token ids that end generation: the tokenizer's EOS ids, else the config's.</summary>
    public IReadOnlyList<int> EosTokenIds => Tokenizer.EosTokenIds.Count > 0 ? Tokenizer.EosTokenIds : Config.EosTokenIds;

    /// <summary>Loads <paramref name="directory"/>; throws <see cref="ModelFormatException"/> naming the bad file or tensor.</summary>
    public static PretrainedModel Load(string directory, WeightPlacement placement = WeightPlacement.Auto)
    {
        var config = ModelConfigLoader.Load(directory);
        var tokenizer = HfTokenizer.Load(directory);
        var weights = LlamaWeightsLoader.Load(directory, config, placement);
        return new PretrainedModel(Path.GetFullPath(directory), config, new LlamaModel(weights), tokenizer);
    }

    public void Dispose() => Model.Dispose();
}
