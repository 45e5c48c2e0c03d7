using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace LoraServe.Models.Tokenization;

/// <summary>
/// Writes a working Hugging Face tokenizer (tokenizer.json + tokenizer_config.json) into a
/// model directory for <c>loraserve create-model</c>: SmolLM2's layout — byte-level BPE,
/// pre_tokenizer Sequence[Digits(individual), ByteLevel(GPT-2 regex)], ByteLevel decoder,
/// special tokens &lt;|endoftext|&gt;=0, &lt;|im_start|&gt;=1, &lt;|im_end|&gt;=2 and a ChatML
/// template — with merges learned from <see cref="TrainingCorpus"/>. Output is byte-for-byte
/// deterministic for a given size, so goldens computed from it by another implementation stay valid.
/// </summary>
public static class TokenizerWriter
{
    /// <summary>The special tokens, in id order.</summary>
    public static IReadOnlyList<string> SpecialTokens { get; } = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

    /// <summary>The smallest vocabulary: the special tokens plus the 256 byte characters.</summary>
    public static int MinVocabSize => SpecialTokens.Count + 256;

    /// <summary>The largest vocabulary the built-in corpus can fill.</summary>
    public static int MaxVocabSize => s_maxVocabSize.Value;

    private static readonly Lazy<int> s_maxVocabSize = new(() => Build(int.MaxValue).VocabSize);

    private const string ChatTemplate =
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
        + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    private static readonly JsonWriterOptions s_json = new()
    {
        Indented = true,
        // Keep 'Ġ' and friends readable, as tokenizers writes them.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>
    /// Writes the tokenizer files into <paramref name="modelDir"/> (created if needed) and returns
    /// the vocabulary size actually reached: <paramref name="maxVocabSize"/>, or fewer when every
    /// word of the built-in corpus has become a single token (see <see cref="MaxVocabSize"/>).
    /// </summary>
    public static int Write(string modelDir, int maxVocabSize)
    {
        if (maxVocabSize < MinVocabSize)
            throw new ArgumentOutOfRangeException(nameof(maxVocabSize), maxVocabSize, $"a byte-level tokenizer needs at least {MinVocabSize} tokens");
        Directory.CreateDirectory(modelDir);
        var (tokenizerJson, configJson, vocabSize) = Build(maxVocabSize);
        File.WriteAllText(Path.Combine(modelDir, "tokenizer.json"), tokenizerJson, new UTF8Encoding(false));
        File.WriteAllText(Path.Combine(modelDir, "tokenizer_config.json"), configJson, new UTF8Encoding(false));
        return vocabSize;
    }

    /// <summary>The two files' contents and the vocabulary size, without touching the disk.</summary>
    public static (string TokenizerJson, string TokenizerConfigJson, int VocabSize) Build(int maxVocabSize)
    {
        var digits = new DigitsPreTokenizer(individualDigits: true);
        var byteLevel = new ByteLevelPreTokenizer(addPrefixSpace: false, useRegex: true);
        var trained = BpeTrainer.Train(TrainingCorpus.Text.ReplaceLineEndings("\n"), new SequencePreTokenizer([digits, byteLevel]),
            maxVocabSize - SpecialTokens.Count);

        var vocab = new List<string>(SpecialTokens);
        vocab.AddRange(trained.Alphabet);
        vocab.AddRange(trained.MergedTokens);
        return (TokenizerJsonText(vocab, trained.Merges), ConfigJsonText(), vocab.Count);
    }

    private static string TokenizerJsonText(List<string> vocab, IReadOnlyList<(string Left, string Right)> merges)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, s_json))
        {
            w.WriteStartObject();
            w.WriteString("version", "1.0");
            w.WriteNull("truncation");
            w.WriteNull("padding");
            w.WriteStartArray("added_tokens");
            for (int i = 0; i < SpecialTokens.Count; i++)
            {
                w.WriteStartObject();
                w.WriteNumber("id", i);
                w.WriteString("content", SpecialTokens[i]);
                w.WriteBoolean("single_word", false);
                w.WriteBoolean("lstrip", false);
                w.WriteBoolean("rstrip", false);
                w.WriteBoolean("normalized", false);
                w.WriteBoolean("special", true);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteNull("normalizer");

            w.WriteStartObject("pre_tokenizer");
            w.WriteString("type", "Sequence");
            w.WriteStartArray("pretokenizers");
            w.WriteStartObject();
            w.WriteString("type", "Digits");
            w.WriteBoolean("individual_digits", true);
            w.WriteEndObject();
            WriteByteLevel(w, null);
            w.WriteEndArray();
            w.WriteEndObject();

            w.WritePropertyName("post_processor");
            WriteByteLevel(w, null);
            w.WritePropertyName("decoder");
            WriteByteLevel(w, null);

            w.WriteStartObject("model");
            w.WriteString("type", "BPE");
            w.WriteNull("dropout");
            w.WriteNull("unk_token");
            w.WriteNull("continuing_subword_prefix");
            w.WriteNull("end_of_word_suffix");
            w.WriteBoolean("fuse_unk", false);
            w.WriteBoolean("byte_fallback", false);
            w.WriteBoolean("ignore_merges", false);
            w.WriteStartObject("vocab");
            for (int i = 0; i < vocab.Count; i++) w.WriteNumber(vocab[i], i);
            w.WriteEndObject();
            w.WriteStartArray("merges");
            // "a b" strings: byte-level tokens never contain a space, and every reader accepts them.
            foreach (var (left, right) in merges) w.WriteStringValue(left + " " + right);
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }

    private static void WriteByteLevel(Utf8JsonWriter w, string? propertyName)
    {
        if (propertyName is null) w.WriteStartObject();
        else w.WriteStartObject(propertyName);
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", false);
        w.WriteBoolean("trim_offsets", true);
        w.WriteBoolean("use_regex", true);
        w.WriteEndObject();
    }

    private static string ConfigJsonText()
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, s_json))
        {
            w.WriteStartObject();
            w.WriteBoolean("add_prefix_space", false);
            w.WriteStartObject("added_tokens_decoder");
            for (int i = 0; i < SpecialTokens.Count; i++)
            {
                w.WriteStartObject(i.ToString(System.Globalization.CultureInfo.InvariantCulture));
                w.WriteString("content", SpecialTokens[i]);
                w.WriteBoolean("lstrip", false);
                w.WriteBoolean("normalized", false);
                w.WriteBoolean("rstrip", false);
                w.WriteBoolean("single_word", false);
                w.WriteBoolean("special", true);
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteStartArray("additional_special_tokens");
            w.WriteStringValue("<|im_start|>");
            w.WriteStringValue("<|im_end|>");
            w.WriteEndArray();
            // SmolLM2-Instruct's choices: ChatML turns, generation ends at <|im_end|>.
            w.WriteString("bos_token", "<|im_start|>");
            w.WriteString("eos_token", "<|im_end|>");
            w.WriteString("pad_token", "<|im_end|>");
            w.WriteString("unk_token", "<|endoftext|>");
            w.WriteString("chat_template", ChatTemplate);
            w.WriteBoolean("clean_up_tokenization_spaces", false);
            w.WriteNumber("model_max_length", 8192);
            w.WriteString("tokenizer_class", "GPT2Tokenizer");
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }
}
