using System.Text;
using LoraServe.Models.Tokenization;

namespace LoraServe.Server.Serving;

/// <summary>
/// Turns generated tokens into the text a client sees. The engine ends a request once its
/// detokenized output contains a stop string (it detokenizes the same way, without the prompt);
/// OpenAI's answer must not contain the stop string, so while streaming the last
/// (longest stop − 1) characters are held back — a stop string found later always starts inside
/// that tail, never in text already sent — and at the end the text is cut before the first stop
/// string it contains.
/// </summary>
internal sealed class OutputTextAssembler
{
    private readonly IncrementalDetokenizer _detokenizer;
    private readonly IReadOnlyList<string> _stops;
    private readonly int _holdBack;
    private readonly StringBuilder _text = new();
    private int _emitted;

    public OutputTextAssembler(HfTokenizer tokenizer, IReadOnlyList<string> stops)
    {
        _detokenizer = tokenizer.CreateDetokenizer();
        _stops = stops;
        int longest = 0;
        foreach (var s in stops) longest = Math.Max(longest, s.Length);
        _holdBack = Math.Max(0, longest - 1);
    }

    /// <summary>Adds a token; returns the text that may be sent now (often empty).</summary>
    public string Push(int token)
    {
        _text.Append(_detokenizer.Push(token));
        int safe = _text.Length - _holdBack;
        // Never split a surrogate pair between two chunks: each chunk must be valid UTF-16 on its own.
        if (safe > 0 && safe < _text.Length && char.IsHighSurrogate(_text[safe - 1])) safe--;
        return Take(safe);
    }

    /// <summary>
    /// Ends the output with its last token (if the final event carried one); returns the rest, cut
    /// before the stop string if <paramref name="stoppedByString"/>. The last token's text is not
    /// released on its own first: it may be the one that completed the stop string.
    /// </summary>
    public string Finish(int? lastToken, bool stoppedByString)
    {
        if (lastToken is { } token) _text.Append(_detokenizer.Push(token));
        _text.Append(_detokenizer.Flush());
        int end = _text.Length;
        if (stoppedByString)
        {
            string all = _text.ToString();
            foreach (var s in _stops)
            {
                int at = all.IndexOf(s, Math.Max(0, _emitted - s.Length + 1), StringComparison.Ordinal);
                if (at >= 0 && at < end) end = at;
            }
        }
        return Take(Math.Max(end, _emitted));
    }

    /// <summary>Everything sent so far.</summary>
    public string Text => _text.ToString(0, _emitted);

    private string Take(int upTo)
    {
        if (upTo <= _emitted) return "";
        string delta = _text.ToString(_emitted, upTo - _emitted);
        _emitted = upTo;
        return delta;
    }
}
