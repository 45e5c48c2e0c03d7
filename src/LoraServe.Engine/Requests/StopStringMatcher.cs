using System.Text;
using LoraServe.Models.Tokenization;

namespace LoraServe.Engine.Requests;

/// <summary>
/// Detokenizes a request's output incrementally and reports when it comes to contain one of the
/// stop strings (vLLM's stop). A stop string may span token boundaries, so each check looks at
/// the new text plus the longest stop string's length before it.
/// </summary>
internal sealed class StopStringMatcher(IncrementalDetokenizer detokenizer, IReadOnlyList<string> stops)
{
    private readonly StringBuilder _text = new();
    private readonly int _longest = MaxLength(stops);

    public string Text => _text.ToString();

    /// <summary>Adds <paramref name="token"/>; returns the stop string now contained in the output, or null.</summary>
    public string? Push(int token)
    {
        string delta = detokenizer.Push(token);
        if (delta.Length == 0) return null;
        int from = Math.Max(0, _text.Length - _longest + 1);
        _text.Append(delta);
        int length = _text.Length - from;
        string window = _text.ToString(from, length);
        foreach (var s in stops)
            if (window.Contains(s, StringComparison.Ordinal)) return s;
        return null;
    }

    private static int MaxLength(IReadOnlyList<string> stops)
    {
        int m = 1;
        foreach (var s in stops) m = Math.Max(m, s.Length);
        return m;
    }
}
