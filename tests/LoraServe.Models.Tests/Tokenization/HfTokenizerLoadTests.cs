using System.IO.Compression;
using System.Text.Json.Nodes;
using LoraServe.Models.Config;
using LoraServe.Models.Tokenization;

namespace LoraServe.Models.Tests.Tokenization;

public sealed class HfTokenizerLoadTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("loraserve-tok-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string WriterTokenizerWith(Action<JsonObject> editTokenizer, Action<JsonObject>? editConfig = null)
    {
        var (tokJson, cfgJson, _) = TokenizerWriter.Build(300);
        var tok = JsonNode.Parse(tokJson)!.AsObject();
        editTokenizer(tok);
        File.WriteAllText(Path.Combine(_dir, "tokenizer.json"), tok.ToJsonString());
        var cfg = JsonNode.Parse(cfgJson)!.AsObject();
        editConfig?.Invoke(cfg);
        File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"), cfg.ToJsonString());
        return _dir;
    }

    private ModelFormatException LoadFails(Action<JsonObject> edit)
        => Assert.Throws<ModelFormatException>(() => HfTokenizer.Load(WriterTokenizerWith(edit)));

    [Fact]
    public void Missing_tokenizer_json_is_named()
    {
        var e = Assert.Throws<ModelFormatException>(() => HfTokenizer.Load(_dir));
        Assert.Contains(Path.Combine(_dir, "tokenizer.json"), e.Message);
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public void Missing_directory_is_named()
    {
        string missing = Path.Combine(_dir, "nope");
        var e = Assert.Throws<ModelFormatException>(() => HfTokenizer.Load(missing));
        Assert.Contains(missing, e.Message);
    }

    [Theory]
    [InlineData("WordPiece")]
    [InlineData("Unigram")]
    [InlineData("WordLevel")]
    public void Unsupported_model_type_is_named(string type)
    {
        var e = LoadFails(t => t["model"]!["type"] = type);
        Assert.Contains("tokenizer.json", e.Message);
        Assert.Contains("model", e.Message);
        Assert.Contains(type, e.Message);
    }

    [Fact]
    public void Unsupported_normalizer_is_named_with_its_position()
    {
        var e = LoadFails(t => t["normalizer"] = JsonNode.Parse("""{"type":"Sequence","normalizers":[{"type":"NFC"},{"type":"BertNormalizer"}]}"""));
        Assert.Contains("tokenizer.json", e.Message);
        Assert.Contains("normalizer.normalizers[1]", e.Message);
        Assert.Contains("BertNormalizer", e.Message);
    }

    [Fact]
    public void Unsupported_pre_tokenizer_is_named_with_its_position()
    {
        var e = LoadFails(t => t["pre_tokenizer"]!["pretokenizers"]!.AsArray().Add(JsonNode.Parse("""{"type":"Whitespace"}""")));
        Assert.Contains("pre_tokenizer.pretokenizers[2]", e.Message);
        Assert.Contains("Whitespace", e.Message);
    }

    [Fact]
    public void Unsupported_decoder_is_named()
    {
        var e = LoadFails(t => t["decoder"] = JsonNode.Parse("""{"type":"WordPiece","prefix":"##"}"""));
        Assert.Contains("decoder", e.Message);
        Assert.Contains("WordPiece", e.Message);
    }

    [Fact]
    public void Merge_with_unknown_token_is_named()
    {
        var e = LoadFails(t => t["model"]!["merges"]!.AsArray().Add("zz qq"));
        Assert.Contains("merge #", e.Message);
        Assert.Contains("\"zz\"", e.Message);
    }

    [Fact]
    public void Missing_model_is_named()
    {
        var e = LoadFails(t => t.Remove("model"));
        Assert.Contains("model", e.Message);
    }

    [Fact]
    public void Invalid_json_is_named()
    {
        File.WriteAllText(Path.Combine(_dir, "tokenizer.json"), "{ not json");
        var e = Assert.Throws<ModelFormatException>(() => HfTokenizer.Load(_dir));
        Assert.Contains("tokenizer.json", e.Message);
        Assert.Contains("not valid JSON", e.Message);
    }

    [Fact]
    public void Unknown_eos_token_in_config_is_named()
    {
        WriterTokenizerWith(_ => { }, c => c["eos_token"] = "<|nope|>");
        var e = Assert.Throws<ModelFormatException>(() => HfTokenizer.Load(_dir));
        Assert.Contains("tokenizer_config.json", e.Message);
        Assert.Contains("<|nope|>", e.Message);
    }

    [Fact]
    public void Merges_as_arrays_load_like_merges_as_strings()
    {
        var strings = HfTokenizer.Load(WriterTokenizerWith(_ => { }));
        WriterTokenizerWith(t =>
        {
            var arrays = new JsonArray();
            foreach (var m in t["model"]!["merges"]!.AsArray())
            {
                var parts = m!.GetValue<string>().Split(' ');
                arrays.Add(new JsonArray(parts[0], parts[1]));
            }
            t["model"]!["merges"] = arrays;
        });
        var arraysTok = HfTokenizer.Load(_dir);
        string text = "The tortoise kept going slowly but steadily, 42 times.";
        Assert.Equal(strings.Encode(text), arraysTok.Encode(text));
        Assert.True(strings.Encode(text).Count < text.Length); // merges were applied at all
    }

    [Fact]
    public void Add_bos_token_in_config_adds_bos_when_tokenizer_json_has_no_template()
    {
        WriterTokenizerWith(t => t["post_processor"] = null, c => { c["add_bos_token"] = true; c["add_eos_token"] = true; });
        var tok = HfTokenizer.Load(_dir);
        var ids = tok.Encode("hi");
        Assert.Equal(1, ids[0]);  // <|im_start|>, the bos_token
        Assert.Equal(2, ids[^1]); // <|im_end|>, the eos_token
        Assert.Equal(tok.Encode("hi", addSpecialTokens: false), ids.Skip(1).Take(ids.Count - 2));
    }

    [Fact]
    public void Generation_config_eos_ids_come_first_then_the_tokenizer_eos()
    {
        WriterTokenizerWith(_ => { });
        File.WriteAllText(Path.Combine(_dir, "generation_config.json"), """{"bos_token_id": 1, "eos_token_id": [0, 5]}""");
        var tok = HfTokenizer.Load(_dir);
        Assert.Equal([0, 5, 2], tok.EosTokenIds);
        Assert.Equal(1, tok.BosTokenId);
    }

    [Fact]
    public void Bos_and_eos_given_as_objects_are_read()
    {
        WriterTokenizerWith(_ => { }, c =>
        {
            c["bos_token"] = JsonNode.Parse("""{"content":"<|endoftext|>","lstrip":false}""");
            c["eos_token"] = JsonNode.Parse("""{"content":"<|im_end|>"}""");
        });
        var tok = HfTokenizer.Load(_dir);
        Assert.Equal(0, tok.BosTokenId);
        Assert.Equal([2], tok.EosTokenIds);
    }

    [Theory]
    [InlineData("llama3", 128256, 128000, new[] { 128001 })]
    [InlineData("llama2", 32000, 1, new[] { 2 })]
    [InlineData("qwen2_5", 151665, null, new[] { 151645 })]
    [InlineData("gpt2", 50257, 50256, new[] { 50256 })]
    public void Real_tokenizers_report_vocab_and_special_ids(string fixture, int vocab, int? bos, int[] eos)
    {
        var tok = TokenizerFixtures.Load(fixture);
        Assert.Equal(vocab, tok.VocabSize);
        Assert.Equal(bos, tok.BosTokenId);
        Assert.Equal(eos, tok.EosTokenIds);
        foreach (int id in eos) Assert.True(tok.IsSpecial(id));
    }

    [Fact]
    public void Token_lookups_cover_model_vocab_and_added_tokens()
    {
        var tok = TokenizerFixtures.Load("qwen2_5");
        Assert.Equal(151644, tok.TokenToId("<|im_start|>"));
        Assert.Equal("<|im_start|>", tok.IdToToken(151644));
        Assert.True(tok.IsSpecial(151644));
        Assert.False(tok.IsSpecial(151657)); // <tool_call> is added but not special
        Assert.Equal("<tool_call>", tok.Decode([151657], skipSpecialTokens: true));
        Assert.Equal("Ġthe", tok.IdToToken(tok.TokenToId("Ġthe")!.Value));
        Assert.Null(tok.IdToToken(-1));
        Assert.Null(tok.IdToToken(10_000_000));
        Assert.Null(tok.TokenToId("definitely not a token"));
    }

    [Fact]
    public void Clean_up_follows_transformers_rules()
    {
        Assert.Equal("Hello, world. I'm sure it's fine, isn't it?", HfTokenizer.CleanUpSpaces("Hello , world . I 'm sure it 's fine , is n't it ?"));
        Assert.True(TokenizerFixtures.Load("gpt2").CleanUpTokenizationSpaces);
        Assert.False(TokenizerFixtures.Load("qwen2_5").CleanUpTokenizationSpaces);
    }
}
