using LoraServe.Models.Tokenization;
using LoraServe.Server.Serving;

namespace LoraServe.Server.Tests.Serving;

/// <summary>Stop-string trimming and hold-back on real token streams of the tiny model's tokenizer.</summary>
[Collection(LoraServe.Server.Tests.Support.ServerCollection.Name)]
public sealed class OutputTextAssemblerTests(LoraServe.Server.Tests.Support.ServerFixture fx)
{
    private HfTokenizer Tokenizer => fx.Reference.Tokenizer;

    /// <summary>Feeds the tokens of <paramref name="text"/> until the text so far contains a stop (as the engine does), returning (streamed pieces, final).</summary>
    private (List<string> Pieces, string All) Run(string text, string[] stops)
    {
        var ids = Tokenizer.Encode(text, addSpecialTokens: false);
        var assembler = new OutputTextAssembler(Tokenizer, stops);
        var pieces = new List<string>();
        var seen = "";
        for (int i = 0; i < ids.Count; i++)
        {
            seen = Tokenizer.Decode(ids.Take(i + 1).ToArray());
            bool stopped = stops.Any(s => seen.Contains(s, StringComparison.Ordinal));
            if (stopped || i == ids.Count - 1)
            {
                pieces.Add(assembler.Finish(ids[i], stopped));
                break;
            }
            pieces.Add(assembler.Push(ids[i]));
        }
        return (pieces, string.Concat(pieces));
    }

    [Theory]
    [InlineData("The answer is 42. END of story", "END", "The answer is 42. ")]
    [InlineData("alpha beta gamma delta", "a d", "alpha beta gamm")]
    [InlineData("no stop in here at all", "zzz", "no stop in here at all")]
    [InlineData("first\n\nsecond", "\n\n", "first")]
    public void The_output_ends_before_the_first_stop_string_and_never_leaks_part_of_it(string text, string stop, string expected)
    {
        var (pieces, all) = Run(text, [stop]);
        Assert.Equal(expected, all);
        // No streamed piece before the last may end inside what later turned out to be the stop string.
        Assert.DoesNotContain(stop, all);
        Assert.True(pieces.Count >= 1);
    }

    [Fact]
    public void Without_stops_every_token_is_released_at_once()
    {
        var ids = Tokenizer.Encode("plain words only", addSpecialTokens: false);
        var assembler = new OutputTextAssembler(Tokenizer, []);
        string streamed = string.Concat(ids.Take(ids.Count - 1).Select(assembler.Push));
        Assert.Equal(Tokenizer.Decode(ids.Take(ids.Count - 1).ToArray()), streamed);
        Assert.Equal("plain words only", streamed + assembler.Finish(ids[^1], false));
    }
}
