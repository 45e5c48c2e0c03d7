using System.Text;
using LoraServe.Models.Tokenization;

namespace LoraServe.Models.Tests.Tokenization;

/// <summary>
/// Encode/decode agree with Hugging Face tokenizers.js on every golden string of every fixture
/// (goldens produced by tools/tokenizer-goldens/generate.mjs, never by this code).
/// </summary>
public class GoldenEncodeDecodeTests
{
    public static TheoryData<string> Fixtures() => new(TokenizerFixtures.Names);

    private static void CheckAll(string fixture, Func<HfTokenizer, TokenizerFixtures.GoldenCase, string?> check)
    {
        var tok = TokenizerFixtures.Load(fixture);
        var failures = new StringBuilder();
        foreach (var c in TokenizerFixtures.Goldens(fixture))
        {
            string? problem = check(tok, c);
            if (problem is not null) failures.AppendLine($"{TokenizerFixtures.Show(c.Text)}: {problem}");
        }
        Assert.True(failures.Length == 0, $"{fixture}:\n{failures}");
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Encode_with_special_tokens_matches_tokenizers_js(string fixture) => CheckAll(fixture, (tok, c) =>
    {
        var ids = tok.Encode(c.Text, addSpecialTokens: true);
        return ids.SequenceEqual(c.Ids) ? null : $"expected [{string.Join(",", c.Ids)}] got [{string.Join(",", ids)}]";
    });

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Encode_without_special_tokens_matches_tokenizers_js(string fixture) => CheckAll(fixture, (tok, c) =>
    {
        var ids = tok.Encode(c.Text, addSpecialTokens: false);
        return ids.SequenceEqual(c.IdsNoSpecial) ? null : $"expected [{string.Join(",", c.IdsNoSpecial)}] got [{string.Join(",", ids)}]";
    });

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Decode_keeping_special_tokens_matches_tokenizers_js(string fixture) => CheckAll(fixture, (tok, c) =>
    {
        string text = tok.Decode(c.Ids, skipSpecialTokens: false);
        return text == c.DecodeKeepSpecial ? null : $"expected {TokenizerFixtures.Show(c.DecodeKeepSpecial)} got {TokenizerFixtures.Show(text)}";
    });

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Decode_skipping_special_tokens_matches_tokenizers_js(string fixture) => CheckAll(fixture, (tok, c) =>
    {
        string text = tok.Decode(c.Ids, skipSpecialTokens: true);
        return text == c.DecodeSkipSpecial ? null : $"expected {TokenizerFixtures.Show(c.DecodeSkipSpecial)} got {TokenizerFixtures.Show(text)}";
    });
}
