using LoraServe.Engine.Requests;
using LoraServe.Models.Tokenization;

namespace LoraServe.Engine.Tests.Requests;

/// <summary>Stop strings found in detokenized output, also when they span token boundaries.</summary>
public sealed class StopStringMatcherTests
{
    private static readonly HfTokenizer Tokenizer = Build();

    private static HfTokenizer Build()
    {
        var (json, config, _) = TokenizerWriter.Build(TokenizerWriter.MinVocabSize + 200);
        return HfTokenizer.Parse(json, config, null, Path.GetTempPath());
    }

    [Theory]
    [InlineData("the cat sat on the mat. END of it", "END", "the cat sat on the mat. END")]
    [InlineData("abc\n\nxyz", "\n\n", "abc\n\n")]
    [InlineData("no stop in here", "zzz", null)]
    public void Reports_the_stop_string_at_the_first_token_that_completes_it(string text, string stop, string? prefixAtStop)
    {
        var ids = Tokenizer.Encode(text, addSpecialTokens: false);
        var matcher = new StopStringMatcher(Tokenizer.CreateDetokenizer(), [stop, "never-matches"]);
        string? found = null;
        int at = -1;
        for (int i = 0; i < ids.Count && found is null; i++)
        {
            found = matcher.Push(ids[i]);
            at = i;
        }
        if (prefixAtStop is null)
        {
            Assert.Null(found);
            return;
        }
        Assert.Equal(stop, found);
        string decodedSoFar = Tokenizer.Decode(ids.Take(at + 1).ToArray());
        string decodedBefore = Tokenizer.Decode(ids.Take(at).ToArray());
        Assert.Contains(stop, decodedSoFar);
        Assert.DoesNotContain(stop, decodedBefore);
        Assert.StartsWith(prefixAtStop, decodedSoFar);
    }
}
