using LoraServe.Models.Tokenization;

namespace LoraServe.Models.Tests.Tokenization;

public class OnigRegexTests
{
    private static List<string> Matches(string pattern, string text)
    {
        var m = new List<(int Start, int Length)>();
        new OnigRegex(pattern).FindMatches(text, m);
        return m.Select(x => text.Substring(x.Start, x.Length)).ToList();
    }

    [Fact]
    public void Astral_letters_and_digits_are_one_code_point_each_as_in_oniguruma()
    {
        // U+1D400 '𝐀' is Lu and U+1D7CF '𝟏' is Nd: one code point each, not two surrogates.
        Assert.Equal(["a𝐀b"], Matches(@"\p{L}+", "a𝐀b"));
        Assert.Equal(["𝟏𝟐𝟑", "4"], Matches(@"\p{N}{1,3}", "𝟏𝟐𝟑4"));
        Assert.Equal(["🦊🍇"], Matches(@"[^\s\p{L}\p{N}]+", "🦊🍇"));
    }

    [Fact]
    public void Possessive_quantifiers_become_atomic_groups()
    {
        Assert.Equal("(?>a+)a", OnigRegex.Translate("a++a"));
        Assert.Equal("(?>[a-z]*)x", OnigRegex.Translate("[a-z]*+x"));
        Assert.Equal("(?>(?:ab)?)c", OnigRegex.Translate("(?:ab)?+c"));
        Assert.Empty(Matches("a++a", "aaaa"));   // possessive: never gives an 'a' back
        Assert.Equal(["aaaa"], Matches("a+a", "aaaa"));
    }

    [Fact]
    public void Oniguruma_only_escapes_are_translated()
    {
        Assert.Equal(["😀"], Matches(@"\x{1F600}", "a😀b"));
        Assert.Equal(["3f", "A0"], Matches(@"\h+", "3f zz A0"));
        Assert.Equal(["a{b"], Matches("a{b", "xa{b"));
    }

    [Fact]
    public void Llama3_pattern_splits_like_the_reference()
    {
        const string llama3 = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
        // Hand-derived with the pattern's alternatives in order (leftmost-first).
        Assert.Equal(["I", "'M", " sure", " it", "'s", " ", "12345" [..3], "45", "  ", " done", "\n\n"],
            Matches(llama3, "I'M sure it's 12345   done\n\n"));
    }
}
