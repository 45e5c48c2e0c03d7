using System.Text;
using System.Text.Json;
using LoraServe.Models.Config;

namespace LoraServe.Models.Tokenization;

/// <summary>
/// A Hugging Face tokenizer.json with the semantics of the Rust <c>tokenizers</c> crate:
/// added tokens → normalizer → pre-tokenizer → BPE model → post-processor on encode, and
/// id → token → decoder on decode. tokenizer_config.json supplies bos/eos and add_bos_token;
/// generation_config.json, when present, the eos ids generation stops on.
/// Immutable after loading and safe to use from several threads.
/// </summary>
public sealed class HfTokenizer
{
    private readonly AddedVocabulary _added;
    private readonly Dictionary<int, AddedToken> _addedById = new();
    private readonly Dictionary<string, int> _addedByContent = new(StringComparer.Ordinal);
    private readonly Normalizer? _normalizer;
    private readonly PreTokenizer? _preTokenizer;
    private readonly BpeModel _model;
    private readonly PostProcessor _postProcessor;
    private readonly Decoder? _decoder;
    private readonly int[] _eosTokenIds;

    private HfTokenizer(BpeModel model, List<AddedToken> added, Normalizer? normalizer, PreTokenizer? preTokenizer,
        PostProcessor postProcessor, Decoder? decoder, int? bos, int[] eos, bool cleanUp)
    {
        _model = model;
        _normalizer = normalizer;
        _preTokenizer = preTokenizer;
        _postProcessor = postProcessor;
        _decoder = decoder;
        _added = new AddedVocabulary(added, normalizer);
        int maxId = model.MaxId;
        foreach (var t in added)
        {
            _addedById[t.Id] = t;
            _addedByContent[t.Content] = t.Id;
            maxId = Math.Max(maxId, t.Id);
        }
        VocabSize = maxId + 1;
        BosTokenId = bos;
        _eosTokenIds = eos;
        CleanUpTokenizationSpaces = cleanUp;
    }

    /// <summary>
    /// One more than the largest id the tokenizer can produce (model vocab and added tokens);
    /// a model's embedding table must have at least this many rows.
    /// </summary>
    public int VocabSize { get; }

    /// <summary>bos_token of tokenizer_config.json, when it names a known token.</summary>
    public int? BosTokenId { get; }

    /// <summary>
    /// Ids that end generation: generation_config.json's eos_token_id (an id or a list) followed
    /// by tokenizer_config.json's eos_token if not already listed.
    /// </summary>
    public IReadOnlyList<int> EosTokenIds => _eosTokenIds;

    /// <summary>
    /// tokenizer_config.json's clean_up_tokenization_spaces (false when absent). <see cref="Decode"/>
    /// follows the tokenizers crate and never cleans up; transformers applies
    /// <see cref="CleanUpSpaces"/> on top when this is set.
    /// </summary>
    public bool CleanUpTokenizationSpaces { get; }

    /// <summary>The added tokens (special and not) as listed in tokenizer.json.</summary>
    public IReadOnlyList<AddedToken> AddedTokens => _added.Tokens;

    /// <summary>Loads tokenizer.json (+ tokenizer_config.json, generation_config.json) from a model directory.</summary>
    public static HfTokenizer Load(string modelDir)
    {
        if (!Directory.Exists(modelDir)) throw new ModelFormatException(modelDir, "model directory does not exist");
        string tokenizerPath = Path.Combine(modelDir, "tokenizer.json");
        if (!File.Exists(tokenizerPath))
        {
            throw new ModelFormatException(tokenizerPath,
                "tokenizer.json is missing (LoraServe reads the fast-tokenizer format only; a tokenizer.model/vocab.json-only directory must be converted with transformers first)");
        }
        string? Read(string name)
        {
            string p = Path.Combine(modelDir, name);
            return File.Exists(p) ? File.ReadAllText(p, Encoding.UTF8) : null;
        }
        return Parse(File.ReadAllText(tokenizerPath, Encoding.UTF8), Read("tokenizer_config.json"), Read("generation_config.json"), modelDir);
    }

    /// <summary>
    /// Builds a tokenizer from file contents; <paramref name="modelDir"/> is only used to name
    /// the files in error messages.
    /// </summary>
    public static HfTokenizer Parse(string tokenizerJson, string? tokenizerConfigJson, string? generationConfigJson, string modelDir)
    {
        string tokenizerPath = Path.Combine(modelDir, "tokenizer.json");
        var json = new TokenizerJson(tokenizerPath);
        using var doc = ParseDocument(tokenizerJson, tokenizerPath);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) json.Fail("(root)", "expected a JSON object");
        if (!root.TryGetProperty("model", out var modelJson)) json.Fail("model", "missing");

        var model = BpeModel.FromJson(modelJson, json);
        var normalizer = Normalizer.FromJson(Get(root, "normalizer"), json, "normalizer");
        var preTokenizer = PreTokenizer.FromJson(Get(root, "pre_tokenizer"), json, "pre_tokenizer");
        var postProcessor = PostProcessor.FromJson(Get(root, "post_processor"), json, "post_processor");
        var decoder = Decoder.FromJson(Get(root, "decoder"), json, "decoder");
        var added = AddedVocabulary.FromJson(root, json);

        int? TokenId(string token)
        {
            foreach (var t in added) if (t.Content == token) return t.Id;
            return model.TokenToId(token);
        }

        // tokenizer_config.json
        string configPath = Path.Combine(modelDir, "tokenizer_config.json");
        int? bos = null, eos = null;
        bool? addBos = null, addEos = null;
        bool cleanUp = false;
        if (tokenizerConfigJson is not null)
        {
            using var cfgDoc = ParseDocument(tokenizerConfigJson, configPath);
            var cfg = cfgDoc.RootElement;
            var cfgJson = new TokenizerJson(configPath);
            string? bosToken = SpecialTokenContent(cfg, "bos_token", cfgJson);
            string? eosToken = SpecialTokenContent(cfg, "eos_token", cfgJson);
            if (bosToken is not null) bos = TokenId(bosToken) ?? throw new ModelFormatException(configPath, $"bos_token \"{bosToken}\" is not a token of tokenizer.json");
            if (eosToken is not null) eos = TokenId(eosToken) ?? throw new ModelFormatException(configPath, $"eos_token \"{eosToken}\" is not a token of tokenizer.json");
            if (cfg.TryGetProperty("add_bos_token", out var ab) && ab.ValueKind is JsonValueKind.True or JsonValueKind.False) addBos = ab.GetBoolean();
            if (cfg.TryGetProperty("add_eos_token", out var ae) && ae.ValueKind is JsonValueKind.True or JsonValueKind.False) addEos = ae.GetBoolean();
            cleanUp = cfgJson.Bool(cfg, "clean_up_tokenization_spaces", false);
        }

        // transformers' LlamaTokenizerFast rebuilds the post-processor from add_bos_token /
        // add_eos_token; we honour those flags when tokenizer.json's own post-processor adds
        // nothing (older Llama-2 conversions), and otherwise keep tokenizer.json's template.
        if (postProcessor.AddsNothing && (addBos == true || addEos == true))
        {
            if (addBos == true && bos is null) throw new ModelFormatException(configPath, "add_bos_token is true but bos_token is not set");
            if (addEos == true && eos is null) throw new ModelFormatException(configPath, "add_eos_token is true but eos_token is not set");
            postProcessor = new PostProcessor(addBos == true ? [bos!.Value] : [], addEos == true ? [eos!.Value] : []);
        }

        var eosIds = new List<int>();
        if (generationConfigJson is not null)
        {
            string genPath = Path.Combine(modelDir, "generation_config.json");
            using var genDoc = ParseDocument(generationConfigJson, genPath);
            if (genDoc.RootElement.ValueKind == JsonValueKind.Object && genDoc.RootElement.TryGetProperty("eos_token_id", out var g))
            {
                if (g.ValueKind == JsonValueKind.Number) eosIds.Add(g.GetInt32());
                else if (g.ValueKind == JsonValueKind.Array)
                {
                    foreach (var x in g.EnumerateArray())
                    {
                        if (x.ValueKind != JsonValueKind.Number) throw new ModelFormatException(genPath, "eos_token_id must be an integer or a list of integers");
                        eosIds.Add(x.GetInt32());
                    }
                }
                else if (g.ValueKind != JsonValueKind.Null)
                {
                    throw new ModelFormatException(genPath, "eos_token_id must be an integer or a list of integers");
                }
            }
        }
        if (eos is int e && !eosIds.Contains(e)) eosIds.Add(e);

        return new HfTokenizer(model, added, normalizer, preTokenizer, postProcessor, decoder, bos, eosIds.ToArray(), cleanUp);
    }

    private static JsonDocument ParseDocument(string text, string path)
    {
        try
        {
            return JsonDocument.Parse(text, new JsonDocumentOptions { AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new ModelFormatException(path, $"not valid JSON: {e.Message}", e);
        }
    }

    private static JsonElement Get(JsonElement root, string field)
        => root.TryGetProperty(field, out var v) ? v : default;

    /// <summary>bos_token/eos_token are either a string or an AddedToken object {"content": ...}.</summary>
    private static string? SpecialTokenContent(JsonElement cfg, string field, TokenizerJson json)
    {
        if (!cfg.TryGetProperty(field, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind == JsonValueKind.String) return v.GetString();
        if (v.ValueKind == JsonValueKind.Object) return json.String(v, "content", field);
        json.Fail(field, "must be a string or an object with \"content\"");
        return null;
    }

    /// <summary>Token ids of <paramref name="text"/>; special tokens of the post-processor only when <paramref name="addSpecialTokens"/>.</summary>
    public IReadOnlyList<int> Encode(string text, bool addSpecialTokens = true)
    {
        var ids = new List<int>(text.Length / 3 + 4);
        var rawSplits = new List<(string? Text, int Start, int? Id)>();
        var normSplits = new List<(string? Text, int Start, int? Id)>();
        var pieces = new List<PreToken>(1);
        var words = new List<PreToken>();
        _added.SplitRaw(text, rawSplits);
        foreach (var (rawText, rawStart, rawId) in rawSplits)
        {
            if (rawId is int id)
            {
                ids.Add(id);
                continue;
            }
            string normalized = _normalizer?.Normalize(rawText!) ?? rawText!;
            normSplits.Clear();
            _added.SplitNormalized(normalized, normSplits);
            foreach (var (normText, normStart, normId) in normSplits)
            {
                if (normId is int nid)
                {
                    ids.Add(nid);
                    continue;
                }
                pieces.Clear();
                pieces.Add(new PreToken(normText!, rawStart == 0 && normStart == 0));
                words.Clear();
                if (_preTokenizer is null) words.AddRange(pieces);
                else _preTokenizer.PreTokenize(pieces, words);
                foreach (var w in words) _model.Tokenize(w.Text, ids);
            }
        }
        if (addSpecialTokens) _postProcessor.Apply(ids);
        return ids;
    }

    /// <summary>
    /// Text of <paramref name="ids"/> as the tokenizers crate decodes it: each id becomes its
    /// token (special ones dropped when <paramref name="skipSpecialTokens"/>, unknown ids
    /// ignored) and the decoder joins them. No clean-up of spaces (see <see cref="CleanUpTokenizationSpaces"/>).
    /// </summary>
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = true)
    {
        var tokens = new List<string>(ids.Length);
        foreach (int id in ids)
        {
            if (skipSpecialTokens && IsSpecial(id)) continue;
            string? t = IdToToken(id);
            if (t is not null) tokens.Add(t);
        }
        // Without a decoder tokenizers joins tokens with spaces.
        return _decoder is null ? string.Join(' ', tokens) : _decoder.Decode(tokens);
    }

    /// <summary>True for added tokens marked special (the ones skip_special_tokens drops).</summary>
    public bool IsSpecial(int id) => _addedById.TryGetValue(id, out var t) && t.Special;

    /// <summary>The token string of an id (added tokens first, as tokenizers looks them up), or null.</summary>
    public string? IdToToken(int id)
    {
        if (_addedById.TryGetValue(id, out var t)) return t.Content;
        var table = _model.IdToTokenTable;
        return (uint)id < (uint)table.Length ? table[id] : null;
    }

    /// <summary>The id of a token string (added tokens first), or null.</summary>
    public int? TokenToId(string token)
        => _addedByContent.TryGetValue(token, out int id) ? id : _model.TokenToId(token);

    /// <summary>
    /// A streaming decoder for generated ids. <paramref name="promptIds"/> (optional) gives the
    /// context the first generated token is decoded against, so e.g. SentencePiece's leading
    /// "▁" of the first generated word becomes a space instead of being stripped.
    /// </summary>
    public IncrementalDetokenizer CreateDetokenizer(ReadOnlySpan<int> promptIds = default, bool skipSpecialTokens = true)
        => new(this, promptIds, skipSpecialTokens);

    /// <summary>
    /// transformers' <c>clean_up_tokenization</c>: removes the space before punctuation and
    /// English contractions, in this order (tokenization_utils_base.py).
    /// </summary>
    public static string CleanUpSpaces(string text) => text
        .Replace(" .", ".", StringComparison.Ordinal)
        .Replace(" ?", "?", StringComparison.Ordinal)
        .Replace(" !", "!", StringComparison.Ordinal)
        .Replace(" ,", ",", StringComparison.Ordinal)
        .Replace(" ' ", "'", StringComparison.Ordinal)
        .Replace(" n't", "n't", StringComparison.Ordinal)
        .Replace(" 'm", "'m", StringComparison.Ordinal)
        .Replace(" 's", "'s", StringComparison.Ordinal)
        .Replace(" 've", "'ve", StringComparison.Ordinal)
        .Replace(" 're", "'re", StringComparison.Ordinal);
}
