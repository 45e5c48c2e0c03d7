using System.Text;
using LoraServe.Models.Tokenization;

namespace LoraServe.Models.Tests.Tokenization;

public class IncrementalDetokenizerTests
{
    public static TheoryData<string> Fixtures() => new(TokenizerFixtures.Names);

    private static (string Streamed, List<string> Pieces) Stream(HfTokenizer tok, IReadOnlyList<int> ids, bool skipSpecial)
    {
        var detok = tok.CreateDetokenizer(skipSpecialTokens: skipSpecial);
        var pieces = new List<string>();
        foreach (int id in ids) pieces.Add(detok.Push(id));
        string tail = detok.Flush();
        return (string.Concat(pieces) + tail, pieces);
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Streamed_text_concatenates_to_Decode_for_every_golden_string(string fixture)
    {
        var tok = TokenizerFixtures.Load(fixture);
        var failures = new StringBuilder();
        foreach (var c in TokenizerFixtures.Goldens(fixture))
        {
            foreach (bool skip in new[] { true, false })
            {
                string expected = tok.Decode(c.Ids.ToArray(), skip);
                var (streamed, pieces) = Stream(tok, c.Ids, skip);
                if (streamed != expected)
                    failures.AppendLine($"{TokenizerFixtures.Show(c.Text)} skip={skip}: streamed {TokenizerFixtures.Show(streamed)} != decoded {TokenizerFixtures.Show(expected)}");
                if (!expected.Contains('\uFFFD') && pieces.Any(p => p.Contains('\uFFFD')))
                    failures.AppendLine($"{TokenizerFixtures.Show(c.Text)} skip={skip}: a piece contained U+FFFD");
            }
        }
        Assert.True(failures.Length == 0, failures.ToString());
    }

    [Theory]
    [InlineData("llama3", "🦊😀👍🏽 中文 한국어 𝐀")]
    [InlineData("gpt2", "🦊😀👍🏽 中文 한국어 𝐀")]
    [InlineData("qwen2_5", "🦊😀👍🏽 中文 한국어 𝐀")]
    public void Emoji_split_across_byte_level_tokens_is_held_until_complete(string fixture, string text)
    {
        var tok = TokenizerFixtures.Load(fixture);
        var ids = tok.Encode(text, addSpecialTokens: false);
        // Precondition: some token is a fragment of a character (decodes to U+FFFD on its own).
        Assert.Contains(ids, id => tok.Decode([id]).Contains('\uFFFD'));

        var detok = tok.CreateDetokenizer();
        var pieces = ids.Select(detok.Push).ToList();
        Assert.DoesNotContain(pieces, p => p.Contains('\uFFFD'));
        Assert.Contains("", pieces); // something was held back at least once
        Assert.Equal(text, string.Concat(pieces) + detok.Flush());
    }

    [Theory]
    [InlineData("llama2")]
    [InlineData("mistral-metaspace")]
    public void Emoji_split_across_byte_fallback_tokens_is_held_until_complete(string fixture)
    {
        var tok = TokenizerFixtures.Load(fixture);
        string text = "flags 🇫🇷 and 𐌰𐌱 done";
        var ids = tok.Encode(text, addSpecialTokens: false);
        int byteTokens = ids.Count(id => tok.IdToToken(id) is { Length: 6 } t && t.StartsWith("<0x", StringComparison.Ordinal));
        Assert.True(byteTokens >= 8, $"expected <0xNN> byte-fallback tokens, got {byteTokens}");

        var detok = tok.CreateDetokenizer();
        var pieces = ids.Select(detok.Push).ToList();
        Assert.DoesNotContain(pieces, p => p.Contains('\uFFFD'));
        Assert.Equal(tok.Decode(ids.ToArray()), string.Concat(pieces) + detok.Flush());
        Assert.Equal(text, tok.Decode(ids.ToArray()));
    }

    [Fact]
    public void Sequence_ending_mid_character_is_released_by_Flush_as_Decode_shows_it()
    {
        var tok = TokenizerFixtures.Load("llama2");
        // "😀" = F0 9F 98 80; stop after two of its four bytes.
        int[] ids = [tok.TokenToId("▁Hi")!.Value, tok.TokenToId("<0xF0>")!.Value, tok.TokenToId("<0x9F>")!.Value];
        var detok = tok.CreateDetokenizer();
        Assert.Equal("Hi", detok.Push(ids[0]));
        Assert.Equal("", detok.Push(ids[1]));
        Assert.Equal("", detok.Push(ids[2]));
        string tail = detok.Flush();
        // tokenizers' ByteFallback decoder: an invalid run becomes one U+FFFD per byte.
        Assert.Equal("\uFFFD\uFFFD", tail);
        Assert.Equal(tok.Decode(ids), "Hi" + tail);
    }

    [Fact]
    public void Prompt_context_keeps_the_space_before_the_first_generated_word()
    {
        var tok = TokenizerFixtures.Load("llama2");
        var prompt = tok.Encode("Hello", addSpecialTokens: true);
        var generated = tok.Encode("world again", addSpecialTokens: false);
        var detok = tok.CreateDetokenizer(prompt.ToArray());
        string streamed = string.Concat(generated.Select(detok.Push)) + detok.Flush();
        // On its own "▁world" would lose its space to the Strip decoder; after a prompt it must not.
        Assert.Equal(" world again", streamed);
        string full = tok.Decode(prompt.Concat(generated).ToArray());
        Assert.Equal(full[tok.Decode(prompt.ToArray()).Length..], streamed);
    }

    [Fact]
    public void Long_generation_streams_the_same_text_as_Decode()
    {
        var tok = TokenizerFixtures.Load("qwen2_5");
        string text = string.Concat(Enumerable.Repeat("Slow and steady 🐢 wins — 中文 race 123. ", 200));
        var ids = tok.Encode(text, addSpecialTokens: false);
        Assert.True(ids.Count > 2048);
        var detok = tok.CreateDetokenizer();
        var sb = new StringBuilder();
        foreach (int id in ids) sb.Append(detok.Push(id));
        sb.Append(detok.Flush());
        Assert.Equal(text, sb.ToString());
    }
}
