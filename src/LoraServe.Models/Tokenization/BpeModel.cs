using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;

namespace LoraServe.Models.Tokenization;

/// <summary>
/// tokenizer.json "model" of type BPE (Sennrich et al. 2016, as tokenizers' models/bpe
/// implements it): a word starts as one symbol per character and the pair with the lowest
/// merge rank is merged, leftmost first, until no ranked pair is left.
/// </summary>
public sealed class BpeModel
{
    /// <summary>tokenizers caches up to 10,000 words per model; so do we.</summary>
    private const int CacheCapacity = 10_000;
    /// <summary>Longer words skip the cache (a run of 5,000 spaces is not worth keeping).</summary>
    private const int MaxCachedWordLength = 256;

    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<long, (int Rank, int NewId)> _merges;
    private readonly int[] _byteFallbackIds;
    private readonly int? _unkId;
    private readonly bool _fuseUnk;
    private readonly bool _byteFallback;
    private readonly bool _ignoreMerges;
    private readonly string _continuingSubwordPrefix;
    private readonly string _endOfWordSuffix;
    private readonly ConcurrentDictionary<string, int[]> _cache = new();
    private int _cacheCount;

    private BpeModel(Dictionary<string, int> vocab, Dictionary<long, (int, int)> merges, int? unkId, bool fuseUnk,
        bool byteFallback, bool ignoreMerges, string prefix, string suffix)
    {
        _vocab = vocab;
        _merges = merges;
        _unkId = unkId;
        _fuseUnk = fuseUnk;
        _byteFallback = byteFallback;
        _ignoreMerges = ignoreMerges;
        _continuingSubwordPrefix = prefix;
        _endOfWordSuffix = suffix;
        _byteFallbackIds = new int[256];
        for (int b = 0; b < 256; b++)
        {
            _byteFallbackIds[b] = vocab.TryGetValue(ByteFallbackToken((byte)b), out int id) ? id : -1;
        }
        foreach (var (token, id) in vocab)
        {
            MaxId = Math.Max(MaxId, id);
        }
        IdToTokenTable = new string?[MaxId + 1];
        foreach (var (token, id) in vocab) IdToTokenTable[id] = token;
    }

    /// <summary>Largest id in the vocabulary (-1 when empty).</summary>
    public int MaxId { get; } = -1;

    /// <summary>Token string by id (null for ids the vocabulary skips).</summary>
    internal string?[] IdToTokenTable { get; }

    /// <summary>The vocabulary, token → id.</summary>
    public IReadOnlyDictionary<string, int> Vocab => _vocab;

    /// <summary>SentencePiece's name for a raw byte: "&lt;0x0A&gt;" (tokenizers formats it with {:#04X}).</summary>
    public static string ByteFallbackToken(byte b) => $"<0x{b:X2}>";

    public int? TokenToId(string token) => _vocab.TryGetValue(token, out int id) ? id : null;

    internal static BpeModel FromJson(JsonElement e, TokenizerJson json)
    {
        const string component = "model";
        string type = json.Type(e, component);
        if (type != "BPE")
        {
            json.Fail(component, $"unsupported model type \"{type}\" (LoraServe implements BPE only; WordPiece, Unigram and WordLevel tokenizers are not supported)");
        }
        if (e.TryGetProperty("dropout", out var dropout) && dropout.ValueKind == JsonValueKind.Number && dropout.GetDouble() > 0)
        {
            json.Fail(component, "BPE dropout is a training-time regularizer and makes encoding random; set \"dropout\" to null");
        }
        if (!e.TryGetProperty("vocab", out var vocabJson) || vocabJson.ValueKind != JsonValueKind.Object)
            json.Fail(component, "missing object field \"vocab\"");
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in vocabJson.EnumerateObject())
        {
            int id = p.Value.ValueKind == JsonValueKind.Number && p.Value.TryGetInt32(out int v) ? v : -1;
            if (id < 0) json.Fail(component, $"vocab entry \"{p.Name}\" must map to a non-negative integer id");
            vocab[p.Name] = id;
        }

        string prefix = json.OptionalString(e, "continuing_subword_prefix") ?? "";
        string suffix = json.OptionalString(e, "end_of_word_suffix") ?? "";
        var merges = new Dictionary<long, (int, int)>(PairKeyComparer.Instance);
        int rank = 0;
        foreach (var m in json.Array(e, "merges", component).EnumerateArray())
        {
            string left, right;
            if (m.ValueKind == JsonValueKind.String)
            {
                // Pre-0.20 files: "a b". Tokens in such files cannot contain a space.
                string s = m.GetString()!;
                int space = s.IndexOf(' ');
                if (space < 0 || s.IndexOf(' ', space + 1) >= 0) json.Fail(component, $"merge #{rank} \"{s}\" is not two tokens separated by one space");
                left = s[..space];
                right = s[(space + 1)..];
            }
            else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2
                     && m[0].ValueKind == JsonValueKind.String && m[1].ValueKind == JsonValueKind.String)
            {
                left = m[0].GetString()!;
                right = m[1].GetString()!;
            }
            else
            {
                json.Fail(component, $"merge #{rank} must be \"a b\" or [\"a\", \"b\"]");
                return null;
            }
            if (!vocab.TryGetValue(left, out int a)) json.Fail(component, $"merge #{rank}: token \"{left}\" is not in the vocab");
            if (!vocab.TryGetValue(right, out int b)) json.Fail(component, $"merge #{rank}: token \"{right}\" is not in the vocab");
            string merged = left + (prefix.Length > 0 && right.StartsWith(prefix, StringComparison.Ordinal) ? right[prefix.Length..] : right);
            if (!vocab.TryGetValue(merged, out int newId)) json.Fail(component, $"merge #{rank}: result \"{merged}\" is not in the vocab");
            // First occurrence wins, as tokenizers builds its merge map in file order.
            merges.TryAdd(PairKey(a, b), (rank, newId));
            rank++;
        }

        int? unkId = null;
        string? unk = json.OptionalString(e, "unk_token");
        if (unk is not null)
        {
            if (!vocab.TryGetValue(unk, out int u)) json.Fail(component, $"unk_token \"{unk}\" is not in the vocab");
            unkId = u;
        }
        return new BpeModel(vocab, merges, unkId, json.Bool(e, "fuse_unk", false), json.Bool(e, "byte_fallback", false),
            json.Bool(e, "ignore_merges", false), prefix, suffix);
    }

    private static long PairKey(int a, int b) => ((long)a << 32) | (uint)b;

    /// <summary>
    /// long's own hash is high ^ low, i.e. a ^ b for a pair key: tens of thousands of merges
    /// would share a few thousand buckets. Fibonacci hashing spreads them.
    /// </summary>
    private sealed class PairKeyComparer : IEqualityComparer<long>
    {
        public static readonly PairKeyComparer Instance = new();

        public bool Equals(long x, long y) => x == y;

        public int GetHashCode(long key) => (int)(((ulong)key * 0x9E3779B97F4A7C15UL) >> 32);
    }

    /// <summary>Appends the ids of one pre-tokenized word to <paramref name="output"/>.</summary>
    public void Tokenize(string word, List<int> output)
    {
        if (word.Length == 0) return;
        // Llama-3: a word that is itself a token is taken whole, whatever the merges would do.
        if (_ignoreMerges && _vocab.TryGetValue(word, out int whole))
        {
            output.Add(whole);
            return;
        }
        if (_cache.TryGetValue(word, out int[]? cached))
        {
            output.AddRange(cached);
            return;
        }
        int[] ids = Merge(word);
        // ConcurrentDictionary.Count takes every lock; keep our own approximate count instead.
        if (word.Length <= MaxCachedWordLength && Volatile.Read(ref _cacheCount) < CacheCapacity && _cache.TryAdd(word, ids))
            Interlocked.Increment(ref _cacheCount);
        output.AddRange(ids);
    }

    private int[] Merge(string word)
    {
        // Initial symbols: one per code point (tokenizers iterates chars, i.e. scalar values).
        var ids = new List<int>(word.Length);
        bool previousWasUnk = false;
        int charCount = 0;
        for (int i = 0; i < word.Length; i += char.IsSurrogatePair(word, i) ? 2 : 1) charCount++;
        int index = 0;
        for (int i = 0; i < word.Length; index++)
        {
            int len = char.IsSurrogatePair(word, i) ? 2 : 1;
            string ch = word.Substring(i, len);
            i += len;
            string symbol = ch;
            if (index > 0 && _continuingSubwordPrefix.Length > 0) symbol = _continuingSubwordPrefix + symbol;
            if (index == charCount - 1 && _endOfWordSuffix.Length > 0) symbol += _endOfWordSuffix;
            if (_vocab.TryGetValue(symbol, out int id))
            {
                ids.Add(id);
                previousWasUnk = false;
                continue;
            }
            if (_byteFallback && TryAddBytes(ch, ids))
            {
                previousWasUnk = false;
                continue;
            }
            if (_unkId is int unk)
            {
                // fuse_unk: consecutive unknown characters become one unk token.
                if (!(_fuseUnk && previousWasUnk)) ids.Add(unk);
                previousWasUnk = true;
            }
            // With neither byte_fallback nor unk, tokenizers drops the character.
        }
        return MergeSymbols(ids);
    }

    private bool TryAddBytes(string ch, List<int> ids)
    {
        Span<byte> bytes = stackalloc byte[4];
        int n = Encoding.UTF8.GetBytes(ch, bytes);
        for (int k = 0; k < n; k++)
        {
            if (_byteFallbackIds[bytes[k]] < 0) return false;
        }
        for (int k = 0; k < n; k++) ids.Add(_byteFallbackIds[bytes[k]]);
        return true;
    }

    /// <summary>
    /// Port of tokenizers' <c>Word::merge_all</c>: a heap of candidate pairs ordered by
    /// (rank, position); stale entries (a side already merged away) are skipped when popped.
    /// </summary>
    private int[] MergeSymbols(List<int> initial)
    {
        int n = initial.Count;
        if (n < 2) return initial.ToArray();
        var id = initial.ToArray();
        var prev = new int[n];
        var next = new int[n];
        var alive = new bool[n];
        for (int i = 0; i < n; i++)
        {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
            alive[i] = true;
        }
        var queue = new PriorityQueue<(int Pos, int NewId), long>(n);
        for (int i = 0; i + 1 < n; i++)
        {
            if (_merges.TryGetValue(PairKey(id[i], id[i + 1]), out var m)) queue.Enqueue((i, m.NewId), Priority(m.Rank, i));
        }
        while (queue.TryDequeue(out var top, out _))
        {
            int pos = top.Pos;
            if (!alive[pos] || next[pos] < 0) continue;
            int right = next[pos];
            if (!_merges.TryGetValue(PairKey(id[pos], id[right]), out var current) || current.NewId != top.NewId) continue;
            id[pos] = top.NewId;
            alive[right] = false;
            next[pos] = next[right];
            if (next[right] >= 0) prev[next[right]] = pos;
            if (prev[pos] >= 0 && _merges.TryGetValue(PairKey(id[prev[pos]], id[pos]), out var left))
                queue.Enqueue((prev[pos], left.NewId), Priority(left.Rank, prev[pos]));
            if (next[pos] >= 0 && _merges.TryGetValue(PairKey(id[pos], id[next[pos]]), out var after))
                queue.Enqueue((pos, after.NewId), Priority(after.Rank, pos));
        }
        var result = new List<int>(n);
        for (int i = 0; i >= 0; i = next[i]) result.Add(id[i]);
        return result.ToArray();
    }

    private static long Priority(int rank, int pos) => ((long)rank << 32) | (uint)pos;
}
