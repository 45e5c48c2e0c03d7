namespace LoraServe.Models.Tokenization;

/// <summary>
/// Turns a stream of generated ids into a stream of text, vLLM-style (vllm
/// transformers_utils/detokenizer_utils.py <c>detokenize_incrementally</c>): decode a short
/// window twice — up to the last emitted token (<c>prefixOffset..readOffset</c>) and up to the
/// newest (<c>prefixOffset..end</c>) — and emit the difference. Decoding a window of context
/// instead of the new token alone keeps decoder effects that depend on neighbours right
/// (Strip's removed leading space, Metaspace's first token, byte-level merging).
///
/// While the window's text ends in U+FFFD the last character is an unfinished UTF-8 sequence
/// (an emoji split across byte-level tokens or "&lt;0xF0&gt;&lt;0x9F&gt;…" byte-fallback tokens):
/// nothing is emitted until it completes, so a client never sees a replacement character for
/// a character that is still arriving. <see cref="Flush"/> releases whatever is held at the end.
/// Push outputs followed by Flush concatenate to <see cref="HfTokenizer.Decode"/> of all ids
/// pushed (after the prompt's text, when a prompt was given). Not thread-safe: one per request.
/// </summary>
public sealed class IncrementalDetokenizer
{
    /// <summary>Prompt tokens kept as context (vLLM uses 5 before the read offset, plus one).</summary>
    private const int PromptContext = 6;
    /// <summary>Drop consumed ids once this many pile up, so long generations stay O(1) per token.</summary>
    private const int CompactThreshold = 1024;

    private readonly HfTokenizer _tokenizer;
    private readonly bool _skipSpecialTokens;
    private readonly List<int> _ids = new();
    private int _prefixOffset;
    private int _readOffset;

    internal IncrementalDetokenizer(HfTokenizer tokenizer, ReadOnlySpan<int> promptIds, bool skipSpecialTokens)
    {
        _tokenizer = tokenizer;
        _skipSpecialTokens = skipSpecialTokens;
        var context = promptIds.Length > PromptContext ? promptIds[^PromptContext..] : promptIds;
        foreach (int id in context) _ids.Add(id);
        _prefixOffset = 0;
        _readOffset = _ids.Count;
    }

    /// <summary>Appends one generated id and returns the text it completes (often "", never a partial character).</summary>
    public string Push(int id)
    {
        _ids.Add(id);
        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_ids);
        string prefixText = _tokenizer.Decode(span[_prefixOffset.._readOffset], _skipSpecialTokens);
        string newText = _tokenizer.Decode(span[_prefixOffset..], _skipSpecialTokens);
        if (newText.Length <= prefixText.Length || newText.EndsWith('\uFFFD')) return "";
        string delta = newText[prefixText.Length..];
        _prefixOffset = _readOffset;
        _readOffset = _ids.Count;
        Compact();
        return delta;
    }

    /// <summary>Returns what is still held back (e.g. a sequence that ended mid-character, as U+FFFD) and resets the window.</summary>
    public string Flush()
    {
        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_ids);
        string prefixText = _tokenizer.Decode(span[_prefixOffset.._readOffset], _skipSpecialTokens);
        string newText = _tokenizer.Decode(span[_prefixOffset..], _skipSpecialTokens);
        _prefixOffset = _readOffset;
        _readOffset = _ids.Count;
        return newText.Length > prefixText.Length ? newText[prefixText.Length..] : "";
    }

    private void Compact()
    {
        if (_prefixOffset < CompactThreshold) return;
        _ids.RemoveRange(0, _prefixOffset);
        _readOffset -= _prefixOffset;
        _prefixOffset = 0;
    }
}
