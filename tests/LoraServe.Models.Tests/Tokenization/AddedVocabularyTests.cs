using LoraServe.Models.Tokenization;

namespace LoraServe.Models.Tests.Tokenization;

/// <summary>
/// single_word matching, hand-derived from tokenizers' added_vocabulary.rs: a match counts only
/// when neither neighbour is a word character (alphanumeric or '_'); otherwise it is skipped.
/// (tokenizers.js ignores single_word, so it cannot provide goldens here.)
/// </summary>
public class AddedVocabularyTests
{
    [Fact]
    public void Single_word_token_matches_only_as_a_whole_word()
    {
        var vocab = new AddedVocabulary([new AddedToken(7, "cat", Special: false, SingleWord: true, LStrip: false, RStrip: false, Normalized: false)], null);
        var parts = new List<(string? Text, int Start, int? Id)>();
        vocab.SplitRaw("cat concat cats cat. (cat) _cat cat_ the cat", parts);
        Assert.Equal(
            [(null, 0, 7), (" concat cats ", 3, null), (null, 16, 7), (". (", 19, null), (null, 22, 7), (") _cat cat_ the ", 25, null), (null, 41, 7)],
            parts);
    }

    [Fact]
    public void Longest_token_wins_at_the_leftmost_position()
    {
        var vocab = new AddedVocabulary(
        [
            new AddedToken(1, "<a>", true, false, false, false, false),
            new AddedToken(2, "<a><b>", true, false, false, false, false),
            new AddedToken(3, "b>", true, false, false, false, false),
        ], null);
        var parts = new List<(string? Text, int Start, int? Id)>();
        vocab.SplitRaw("x<a><b>b><a>", parts);
        Assert.Equal([("x", 0, null), (null, 1, 2), (null, 7, 3), (null, 9, 1)], parts);
    }
}
