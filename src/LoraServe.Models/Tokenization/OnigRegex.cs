using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace LoraServe.Models.Tokenization;

/// <summary>
/// A tokenizer.json regex (written for the Rust tokenizers crate, which compiles it with
/// Oniguruma) run on .NET's backtracking engine with Oniguruma's results.
///
/// Both engines are leftmost-first backtrackers with the same <c>\s</c> set (White_Space)
/// and <c>\p{..}</c> categories, so the GPT-2, Llama-3 and Qwen2 patterns mean the same
/// thing — with two gaps this class closes:
/// <list type="bullet">
/// <item>Oniguruma matches code points, .NET matches UTF-16 units: an astral letter such as
/// U+1D400 '𝐀' is one <c>\p{L}</c> to Oniguruma but two <c>Cs</c> surrogates to .NET. Text with
/// surrogate pairs is matched on a stand-in string where each pair is replaced by one BMP
/// character of the same Unicode category, and match offsets are mapped back.</item>
/// <item>Syntax .NET lacks: possessive quantifiers (<c>X*+</c> → atomic <c>(?&gt;X*)</c>),
/// <c>\x{HHHH}</c> code points and Oniguruma's <c>\h</c> (hex digit).</item>
/// </list>
/// </summary>
public sealed class OnigRegex
{
    private readonly Regex _regex;
    private readonly char[] _standIns;
    /// <summary>Astral code points the pattern names itself; these stay as surrogate pairs so the literal still matches.</summary>
    private readonly HashSet<int> _literalAstral;

    public OnigRegex(string onigPattern)
    {
        Pattern = onigPattern;
        string translated = Translate(onigPattern);
        // CultureInvariant: (?i:'s|'T) must fold case the same way on every machine.
        _regex = new Regex(translated, RegexOptions.CultureInvariant | RegexOptions.Compiled);
        _standIns = BuildStandIns(onigPattern);
        _literalAstral = LiteralAstralCodePoints(onigPattern);
    }

    /// <summary>The pattern as written in tokenizer.json.</summary>
    public string Pattern { get; }

    /// <summary>Set when the pattern came from a {"String": ...} literal (lets Replace skip the regex engine).</summary>
    public string? Literal { get; private init; }

    /// <summary>A pattern that matches <paramref name="literal"/> verbatim.</summary>
    public static OnigRegex ForLiteral(string literal) => new(Regex.Escape(literal)) { Literal = literal };

    /// <summary>
    /// Non-empty, non-overlapping leftmost matches as (start, length) in UTF-16 units of
    /// <paramref name="text"/>. Empty matches are dropped, as tokenizers drops empty splits.
    /// </summary>
    public void FindMatches(string text, List<(int Start, int Length)> matches)
    {
        matches.Clear();
        if (!HasSurrogate(text))
        {
            for (Match m = _regex.Match(text); m.Success; m = m.NextMatch())
            {
                if (m.Length > 0) matches.Add((m.Index, m.Length));
            }
            return;
        }

        // Stand-in string: one char per code point; origin[i] = index in text of stand-in char i.
        var sb = new StringBuilder(text.Length);
        var origin = new List<int>(text.Length + 1);
        for (int i = 0; i < text.Length; i++)
        {
            origin.Add(i);
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                int cp = char.ConvertToUtf32(text[i], text[i + 1]);
                if (_literalAstral.Contains(cp))
                {
                    sb.Append(text[i]).Append(text[i + 1]);
                    origin.Add(i + 1);
                }
                else
                {
                    sb.Append(_standIns[(int)CharUnicodeInfo.GetUnicodeCategory(cp)]);
                }
                i++;
            }
            else
            {
                sb.Append(text[i]);
            }
        }
        origin.Add(text.Length);
        string mapped = sb.ToString();
        for (Match m = _regex.Match(mapped); m.Success; m = m.NextMatch())
        {
            if (m.Length == 0) continue;
            int start = origin[m.Index];
            int end = origin[m.Index + m.Length];
            matches.Add((start, end - start));
        }
    }

    private static HashSet<int> LiteralAstralCodePoints(string pattern)
    {
        var set = new HashSet<int>();
        for (int i = 0; i < pattern.Length; i++)
        {
            if (char.IsSurrogatePair(pattern, i))
            {
                set.Add(char.ConvertToUtf32(pattern[i], pattern[i + 1]));
                i++;
            }
            else if (pattern[i] == '\\' && i + 2 < pattern.Length && pattern[i + 1] == 'x' && pattern[i + 2] == '{')
            {
                int close = pattern.IndexOf('}', i + 3);
                if (close > 0 && int.TryParse(pattern.AsSpan(i + 3, close - i - 3), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int cp) && cp > 0xFFFF)
                    set.Add(cp);
            }
        }
        return set;
    }

    private static bool HasSurrogate(string text)
    {
        foreach (char c in text)
        {
            if (char.IsSurrogate(c)) return true;
        }
        return false;
    }

    /// <summary>
    /// One BMP character per Unicode category to stand in for astral code points of that
    /// category; never a character (or case variant of one) that the pattern names literally,
    /// so a stand-in can only match through a class such as \p{L} or [^\s\p{L}\p{N}].
    /// </summary>
    private static char[] BuildStandIns(string pattern)
    {
        int categories = Enum.GetValues<UnicodeCategory>().Length;
        var standIns = new char[categories];
        var found = new bool[categories];
        for (int c = 0x100; c < 0xFFFF; c++)
        {
            char ch = (char)c;
            if (char.IsSurrogate(ch)) continue;
            int cat = (int)CharUnicodeInfo.GetUnicodeCategory(ch);
            if (found[cat]) continue;
            if (pattern.Contains(ch) || pattern.Contains(char.ToLowerInvariant(ch)) || pattern.Contains(char.ToUpperInvariant(ch))) continue;
            if (char.ToLowerInvariant(ch) < 0x100 || char.ToUpperInvariant(ch) < 0x100) continue;
            standIns[cat] = ch;
            found[cat] = true;
        }
        // Surrogate (Cs) code points never come in pairs; keep a lone surrogate as itself.
        standIns[(int)UnicodeCategory.Surrogate] = '\uD800';
        return standIns;
    }

    /// <summary>Rewrites Oniguruma-only syntax into .NET syntax with the same meaning.</summary>
    internal static string Translate(string p)
    {
        var sb = new StringBuilder(p.Length + 16);
        var groupStarts = new Stack<int>();
        int lastAtomStart = -1;
        int i = 0;
        while (i < p.Length)
        {
            char c = p[i];
            if (c == '\\' && i + 1 < p.Length)
            {
                lastAtomStart = sb.Length;
                char e = p[i + 1];
                if (e == 'x' && i + 2 < p.Length && p[i + 2] == '{')
                {
                    int close = p.IndexOf('}', i + 3);
                    int cp = int.Parse(p.AsSpan(i + 3, close - i - 3), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                    foreach (char u in char.ConvertFromUtf32(cp)) sb.Append($"\\u{(int)u:X4}");
                    i = close + 1;
                }
                else if (e == 'h')
                {
                    sb.Append("[0-9a-fA-F]");
                    i += 2;
                }
                else if ((e == 'p' || e == 'P') && i + 2 < p.Length && p[i + 2] == '{')
                {
                    int close = p.IndexOf('}', i + 3);
                    sb.Append(p, i, close - i + 1);
                    i = close + 1;
                }
                else
                {
                    sb.Append(c).Append(e);
                    i += 2;
                }
                continue;
            }
            if (c == '[')
            {
                lastAtomStart = sb.Length;
                int end = ClassEnd(p, i);
                sb.Append(TranslateClass(p.Substring(i, end - i)));
                i = end;
                continue;
            }
            if (c == '(')
            {
                groupStarts.Push(sb.Length);
                sb.Append(c);
                i++;
                continue;
            }
            if (c == ')')
            {
                sb.Append(c);
                lastAtomStart = groupStarts.Count > 0 ? groupStarts.Pop() : -1;
                i++;
                continue;
            }
            if (c is '*' or '+' or '?' or '{')
            {
                int qEnd = i + 1;
                if (c == '{')
                {
                    int close = p.IndexOf('}', i);
                    if (close < 0 || !IsCountedQuantifier(p.AsSpan(i + 1, close - i - 1)))
                    {
                        // A literal brace, as Oniguruma reads it.
                        lastAtomStart = sb.Length;
                        sb.Append("\\{");
                        i++;
                        continue;
                    }
                    qEnd = close + 1;
                }
                string quantifier = p.Substring(i, qEnd - i);
                if (qEnd < p.Length && p[qEnd] == '+' && lastAtomStart >= 0)
                {
                    // Possessive: X*+ ≡ (?>X*).
                    string atom = sb.ToString(lastAtomStart, sb.Length - lastAtomStart);
                    sb.Length = lastAtomStart;
                    sb.Append("(?>").Append(atom).Append(quantifier).Append(')');
                    i = qEnd + 1;
                }
                else
                {
                    sb.Append(quantifier);
                    i = qEnd;
                    if (i < p.Length && p[i] == '?')
                    {
                        sb.Append('?');
                        i++;
                    }
                }
                lastAtomStart = -1;
                continue;
            }
            lastAtomStart = sb.Length;
            sb.Append(c);
            i++;
        }
        return sb.ToString();
    }

    private static bool IsCountedQuantifier(ReadOnlySpan<char> inner)
    {
        if (inner.IsEmpty) return false;
        int comma = inner.IndexOf(',');
        var lo = comma < 0 ? inner : inner[..comma];
        var hi = comma < 0 ? ReadOnlySpan<char>.Empty : inner[(comma + 1)..];
        foreach (char ch in lo) if (!char.IsAsciiDigit(ch)) return false;
        foreach (char ch in hi) if (!char.IsAsciiDigit(ch)) return false;
        return !lo.IsEmpty || !hi.IsEmpty;
    }

    /// <summary>Index just past the ']' that closes the class opening at <paramref name="start"/>.</summary>
    private static int ClassEnd(string p, int start)
    {
        int depth = 0;
        int i = start;
        while (i < p.Length)
        {
            char c = p[i];
            if (c == '\\') { i += 2; continue; }
            if (c == '[') { depth++; i++; if (i < p.Length && p[i] == '^') i++; if (i < p.Length && p[i] == ']') i++; continue; }
            if (c == ']') { depth--; i++; if (depth == 0) return i; continue; }
            i++;
        }
        throw new ArgumentException($"unterminated character class in regex '{p}'");
    }

    private static string TranslateClass(string cls)
    {
        if (!cls.Contains("\\x{") && !cls.Contains("\\h")) return cls;
        var sb = new StringBuilder(cls.Length);
        for (int i = 0; i < cls.Length; i++)
        {
            if (cls[i] == '\\' && i + 1 < cls.Length)
            {
                if (cls[i + 1] == 'h') { sb.Append("0-9a-fA-F"); i++; continue; }
                if (cls[i + 1] == 'x' && i + 2 < cls.Length && cls[i + 2] == '{')
                {
                    int close = cls.IndexOf('}', i + 3);
                    int cp = int.Parse(cls.AsSpan(i + 3, close - i - 3), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                    foreach (char u in char.ConvertFromUtf32(cp)) sb.Append($"\\u{(int)u:X4}");
                    i = close;
                    continue;
                }
                sb.Append(cls[i]).Append(cls[i + 1]);
                i++;
                continue;
            }
            sb.Append(cls[i]);
        }
        return sb.ToString();
    }
}
