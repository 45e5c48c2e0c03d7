using LoraServe.Models.Tokenization;

namespace LoraServe.Models.Tests.Tokenization;

/// <summary>
/// Decoder steps checked against rules read off the tokenizers crate sources (hand-derived
/// expectations; none of the fixtures' goldens exercise these corners).
/// </summary>
public class DecoderTests
{
    [Fact]
    public void Metaspace_decoder_drops_every_replacement_of_the_first_token_like_metaspace_rs()
    {
        // metaspace.rs decode_chain: for i == 0 and prepend_scheme != never, '▁' → nothing;
        // elsewhere '▁' → ' '. (tokenizers.js strips only one leading space here.)
        var first = new MetaspaceDecoder(new MetaspaceOptions('▁', MetaspaceOptions.Prepend.First, false));
        Assert.Equal("leading and", first.Decode(["▁▁▁leading", "▁and"]));
        Assert.Equal("Hey friend!", first.Decode(["▁Hey", "▁friend!"]));
        var never = new MetaspaceDecoder(new MetaspaceOptions('▁', MetaspaceOptions.Prepend.Never, false));
        Assert.Equal(" Hey friend!", never.Decode(["▁Hey", "▁friend!"]));
    }

    [Fact]
    public void Byte_fallback_turns_an_invalid_run_into_one_replacement_per_byte()
    {
        var d = new ByteFallbackDecoder();
        Assert.Equal(["a", "é", "b"], d.DecodeChain(["a", "<0xC3>", "<0xA9>", "b"]));
        Assert.Equal(["\uFFFD", "\uFFFD", "b"], d.DecodeChain(["<0xF0>", "<0x9F>", "b"]));
        Assert.Equal(["<0xZZ>", "<0x41"], d.DecodeChain(["<0xZZ>", "<0x41"]));
    }

    [Fact]
    public void Strip_removes_at_most_the_requested_count_on_each_side()
    {
        var d = new StripDecoder(' ', 1, 2);
        Assert.Equal(["  a   "[1..^2]], d.DecodeChain(["  a   "]));
        Assert.Equal([""], d.DecodeChain([" "]));
    }

    [Fact]
    public void Byte_level_decoder_maps_alphabet_back_to_utf8_and_keeps_foreign_tokens()
    {
        var d = new ByteLevelDecoder();
        string fox = ByteLevelAlphabet.Encode(" 🦊");
        Assert.Equal("ĠðŁ¦Ĭ", fox);
        Assert.Equal(" 🦊<|im_end|>", d.Decode([fox[..2], fox[2..], "<|im_end|>"]));
        // A truncated sequence decodes lossily to one U+FFFD, as Rust's from_utf8_lossy does.
        Assert.Equal("x\uFFFD", d.Decode(["x", fox[1..4]]));
    }
}
