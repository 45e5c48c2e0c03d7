using System.Text;
using LoraServe.Models.Tokenization;

namespace LoraServe.Models.Tests.Tokenization;

public sealed class TokenizerWriterTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("loraserve-writer-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Writer_output_is_byte_for_byte_the_committed_fixture()
    {
        // tests/fixtures/tokenizers/writer-512 was written by TokenizerWriter.Write(dir, 512) and
        // its goldens come from tokenizers.js; identical bytes keep those goldens valid.
        int vocab = TokenizerWriter.Write(_dir, 512);
        Assert.Equal(512, vocab);
        foreach (string file in new[] { "tokenizer.json", "tokenizer_config.json" })
        {
            Assert.Equal(File.ReadAllText(Path.Combine(TokenizerFixtures.Dir("writer-512"), file), Encoding.UTF8),
                File.ReadAllText(Path.Combine(_dir, file), Encoding.UTF8));
        }
    }

    [Fact]
    public void Written_tokenizer_loads_and_agrees_with_tokenizers_js_on_a_paragraph()
    {
        TokenizerWriter.Write(_dir, 512);
        var tok = HfTokenizer.Load(_dir);
        var paragraph = TokenizerFixtures.Goldens("writer-512").Single(c => c.Text.StartsWith("The hungry fox", StringComparison.Ordinal));
        Assert.Equal(paragraph.Ids, tok.Encode(paragraph.Text));
        Assert.Equal(paragraph.Text, tok.Decode(paragraph.Ids.ToArray()));
        Assert.Equal(512, tok.VocabSize);
        Assert.Equal(1, tok.BosTokenId);
        Assert.Equal([2], tok.EosTokenIds);
        Assert.Equal([0, 1, 2], new[] { "<|endoftext|>", "<|im_start|>", "<|im_end|>" }.Select(t => tok.TokenToId(t)!.Value));
    }

    [Fact]
    public void Larger_vocabulary_compresses_text_better_and_round_trips()
    {
        TokenizerWriter.Write(_dir, 1500);
        var big = HfTokenizer.Load(_dir);
        var small = TokenizerFixtures.Load("writer-512");
        string text = "The tortoise meanwhile kept going slowly but steadily; the hare slept on. Café ☕ 2048!";
        Assert.Equal(1500, big.VocabSize);
        Assert.True(big.Encode(text).Count < small.Encode(text).Count);
        Assert.Equal(text, big.Decode(big.Encode(text).ToArray()));
    }

    [Fact]
    public void Vocabulary_is_capped_by_what_the_corpus_can_fill()
    {
        int max = TokenizerWriter.MaxVocabSize;
        Assert.True(max > 1500);
        Assert.Equal(max, TokenizerWriter.Write(_dir, max + 10_000));
        Assert.Throws<ArgumentOutOfRangeException>(() => TokenizerWriter.Write(_dir, 100));
    }
}
