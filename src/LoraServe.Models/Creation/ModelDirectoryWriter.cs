using LoraServe.Core.Tensors;
using LoraServe.Models.Tokenization;

namespace LoraServe.Models.Creation;

/// <summary>
/// A complete, runnable HF model directory for `loraserve create-model`: a trained byte-level BPE
/// tokenizer (tokenizer.json, tokenizer_config.json) and seeded random weights whose vocabulary
/// and BOS/EOS ids agree with it.
/// </summary>
public static class ModelDirectoryWriter
{
    /// <summary>Tokenizer vocabulary of the tiny preset: small enough to keep the tiny model tiny.</summary>
    public const int TinyTokenizerVocab = 512;

    public static ModelShape Write(string dir, string presetName, int seed, DType dtype, int shards = 1)
    {
        var preset = ModelShape.Preset(presetName, presetName == ModelShape.TinyPreset ? TinyTokenizerVocab : null);
        int tokenizerVocab = TokenizerWriter.Write(dir, Math.Min(preset.VocabSize, TokenizerWriter.MaxVocabSize));
        // The embedding may be larger than the tokenizer (as SmolLM2's 49152 rows are); never smaller.
        int vocab = Math.Max(preset.VocabSize, tokenizerVocab);
        var tokenizer = HfTokenizer.Load(dir);
        int bos = Id(tokenizer, "<|im_start|>"), eos = Id(tokenizer, "<|im_end|>");
        var shape = preset.WithTokens(vocab, bos, [eos]);
        RandomModelWriter.Write(dir, shape, seed, dtype, shards);
        return shape;
    }

    private static int Id(HfTokenizer tokenizer, string special) =>
        tokenizer.TokenToId(special) ?? throw new InvalidOperationException($"the written tokenizer has no '{special}' token");
}
