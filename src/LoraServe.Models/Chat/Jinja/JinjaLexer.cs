using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace LoraServe.Models.Chat.Jinja;

/// <summary>
/// Splits a template into text and tag tokens with jinja2's whitespace rules as transformers
/// configures them: trim_blocks (drop the first newline after a block or comment tag),
/// lstrip_blocks (drop spaces and tabs between a line start and a block or comment tag), and the
/// explicit <c>-</c> / <c>+</c> modifiers, which override both.
/// </summary>
internal static partial class JinjaLexer
{
    private static readonly string[] TwoCharOperators = ["//", "**", "==", "!=", "<=", ">="];
    private const string OneCharOperators = "+-*/%~<>=()[]{},.:|";

    [GeneratedRegex(@"\G\{%([-+]?)\s*raw\s*(-?)%\}")]
    private static partial Regex RawStart();

    [GeneratedRegex(@"\{%(-?)\s*endraw\s*([-+]?)%\}")]
    private static partial Regex RawEnd();

    public static List<JinjaToken> Tokenize(JinjaSource source)
    {
        string s = source.Text;
        var tokens = new List<JinjaToken>();
        int pos = 0;
        bool stripNextText = false;
        while (pos <= s.Length)
        {
            int tag = FindTagStart(s, pos);
            int textEnd = tag < 0 ? s.Length : tag;
            string text = s[pos..textEnd];
            if (stripNextText)
            {
                text = text.TrimStart();
                stripNextText = false;
            }
            if (tag < 0)
            {
                if (text.Length > 0) tokens.Add(new JinjaToken(JinjaTokenKind.Text, text, pos));
                break;
            }

            char kind = s[tag + 1];
            char modifier = tag + 2 < s.Length ? s[tag + 2] : '\0';
            bool isBlockLike = kind is '%' or '#';
            if (modifier == '-')
            {
                text = text.TrimEnd();
            }
            else if (isBlockLike && modifier != '+')
            {
                text = LstripBeforeTag(s, pos, text);
            }
            if (text.Length > 0) tokens.Add(new JinjaToken(JinjaTokenKind.Text, text, pos));

            if (kind == '#')
            {
                int close = s.IndexOf("#}", tag + 2, StringComparison.Ordinal);
                if (close < 0) throw source.Error(tag, "Unclosed comment '{#'");
                pos = AfterTagEnd(s, close, close + 2, trimBlocks: true, out stripNextText);
                continue;
            }

            if (kind == '%')
            {
                Match raw = RawStart().Match(s, tag);
                if (raw.Success)
                {
                    Match end = RawEnd().Match(s, raw.Index + raw.Length);
                    if (!end.Success) throw source.Error(tag, "Unclosed '{% raw %}' block");
                    string body = s[(raw.Index + raw.Length)..end.Index];
                    if (raw.Groups[2].Value == "-") body = body.TrimStart();
                    if (end.Groups[1].Value == "-") body = body.TrimEnd();
                    if (body.Length > 0) tokens.Add(new JinjaToken(JinjaTokenKind.Text, body, raw.Index + raw.Length));
                    int after = end.Index + end.Length;
                    pos = after;
                    if (end.Groups[2].Value != "+" && after < s.Length && s[after] == '\n') pos++;
                    continue;
                }
            }

            bool isVariable = kind == '{';
            tokens.Add(new JinjaToken(isVariable ? JinjaTokenKind.VariableStart : JinjaTokenKind.BlockStart, isVariable ? "{{" : "{%", tag));
            int p = tag + 2;
            if (modifier == '-' || (modifier == '+' && !isVariable)) p++;
            pos = LexTagBody(source, tokens, p, isVariable, out stripNextText);
        }
        tokens.Add(new JinjaToken(JinjaTokenKind.End, "", s.Length));
        return tokens;
    }

    private static int FindTagStart(string s, int from)
    {
        for (int i = s.IndexOf('{', from); i >= 0 && i + 1 < s.Length; i = s.IndexOf('{', i + 1))
        {
            char c = s[i + 1];
            if (c is '{' or '%' or '#') return i;
        }
        return -1;
    }

    /// <summary>
    /// lstrip_blocks: when only spaces and tabs separate the tag from the start of its line (or of
    /// the template), they are removed. jinja2 checks "line start" with the character before the
    /// text, which is the newline that trim_blocks may already have consumed.
    /// </summary>
    private static string LstripBeforeTag(string s, int textStart, string text)
    {
        int lastNewline = text.LastIndexOf('\n');
        int lineStart = lastNewline + 1;
        bool lineStarting = lastNewline >= 0 || textStart == 0 || s[textStart - 1] == '\n';
        if (!lineStarting) return text;
        for (int i = lineStart; i < text.Length; i++)
        {
            if (!char.IsWhiteSpace(text[i])) return text;
        }
        return text[..lineStart];
    }

    private static int AfterTagEnd(string s, int closeStart, int afterClose, bool trimBlocks, out bool stripNextText)
    {
        char before = closeStart > 0 ? s[closeStart - 1] : '\0';
        stripNextText = before == '-';
        if (trimBlocks && before != '-' && before != '+' && afterClose < s.Length && s[afterClose] == '\n') return afterClose + 1;
        return afterClose;
    }

    private static int LexTagBody(JinjaSource source, List<JinjaToken> tokens, int p, bool isVariable, out bool stripNextText)
    {
        string s = source.Text;
        int depth = 0;
        while (true)
        {
            while (p < s.Length && char.IsWhiteSpace(s[p])) p++;
            if (p >= s.Length) throw source.Error(p, isVariable ? "Unclosed '{{'" : "Unclosed '{%'");
            char c = s[p];

            if (depth == 0 && TryTagEnd(s, p, isVariable, out int closeStart, out int afterClose))
            {
                tokens.Add(new JinjaToken(isVariable ? JinjaTokenKind.VariableEnd : JinjaTokenKind.BlockEnd, isVariable ? "}}" : "%}", p));
                // trim_blocks never applies to '}}'; '-' still strips what follows.
                return AfterTagEnd(s, closeStart, afterClose, trimBlocks: !isVariable, out stripNextText);
            }

            if (char.IsAsciiLetter(c) || c == '_')
            {
                int start = p;
                while (p < s.Length && (char.IsAsciiLetterOrDigit(s[p]) || s[p] == '_')) p++;
                tokens.Add(new JinjaToken(JinjaTokenKind.Name, s[start..p], start));
                continue;
            }
            if (char.IsAsciiDigit(c))
            {
                p = LexNumber(s, p, tokens);
                continue;
            }
            if (c is '\'' or '"')
            {
                p = LexString(source, p, tokens);
                continue;
            }
            string? op = null;
            if (p + 1 < s.Length)
            {
                string two = s.Substring(p, 2);
                if (Array.IndexOf(TwoCharOperators, two) >= 0) op = two;
            }
            if (op is null && OneCharOperators.Contains(c)) op = c.ToString();
            if (op is null) throw source.Error(p, $"Unexpected character '{c}' inside a tag");
            if (op is "(" or "[" or "{") depth++;
            if (op is ")" or "]" or "}") depth--;
            tokens.Add(new JinjaToken(JinjaTokenKind.Operator, op, p));
            p += op.Length;
        }
    }

    private static bool TryTagEnd(string s, int p, bool isVariable, out int closeStart, out int afterClose)
    {
        string close = isVariable ? "}}" : "%}";
        int at = p;
        if ((s[at] == '-' || (!isVariable && s[at] == '+')) && at + 1 < s.Length) at++;
        if (string.CompareOrdinal(s, at, close, 0, 2) == 0)
        {
            closeStart = at;
            afterClose = at + 2;
            return true;
        }
        closeStart = afterClose = -1;
        return false;
    }

    private static int LexNumber(string s, int p, List<JinjaToken> tokens)
    {
        int start = p;
        while (p < s.Length && (char.IsAsciiDigit(s[p]) || s[p] == '_')) p++;
        bool isFloat = false;
        // jinja2 never reads a float right after '.', so "matrix.0.1" is two integer attribute steps.
        bool afterDot = start > 0 && s[start - 1] == '.';
        if (!afterDot && p + 1 < s.Length && s[p] == '.' && char.IsAsciiDigit(s[p + 1]))
        {
            isFloat = true;
            p++;
            while (p < s.Length && (char.IsAsciiDigit(s[p]) || s[p] == '_')) p++;
        }
        if (!afterDot && p < s.Length && (s[p] is 'e' or 'E'))
        {
            int q = p + 1;
            if (q < s.Length && (s[q] is '+' or '-')) q++;
            if (q < s.Length && char.IsAsciiDigit(s[q]))
            {
                isFloat = true;
                p = q;
                while (p < s.Length && char.IsAsciiDigit(s[p])) p++;
            }
        }
        string text = s[start..p].Replace("_", "");
        tokens.Add(new JinjaToken(isFloat ? JinjaTokenKind.Float : JinjaTokenKind.Integer, text, start));
        return p;
    }

    /// <summary>String literals decode like Python's "unicode-escape" codec, as jinja2 does.</summary>
    private static int LexString(JinjaSource source, int p, List<JinjaToken> tokens)
    {
        string s = source.Text;
        char quote = s[p];
        int start = p;
        p++;
        var sb = new StringBuilder();
        while (true)
        {
            if (p >= s.Length) throw source.Error(start, "Unterminated string literal");
            char c = s[p];
            if (c == quote)
            {
                p++;
                break;
            }
            if (c != '\\' || p + 1 >= s.Length)
            {
                sb.Append(c);
                p++;
                continue;
            }
            char e = s[p + 1];
            p += 2;
            switch (e)
            {
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case '\\': sb.Append('\\'); break;
                case '\'': sb.Append('\''); break;
                case '"': sb.Append('"'); break;
                case 'a': sb.Append('\a'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'v': sb.Append('\v'); break;
                case '\n': break;
                case 'x': sb.Append(HexEscape(source, s, ref p, 2, start)); break;
                case 'u': sb.Append(HexEscape(source, s, ref p, 4, start)); break;
                case 'U': sb.Append(HexEscape(source, s, ref p, 8, start)); break;
                default:
                    if (e is >= '0' and <= '7')
                    {
                        int value = e - '0';
                        for (int k = 0; k < 2 && p < s.Length && s[p] is >= '0' and <= '7'; k++, p++) value = value * 8 + (s[p] - '0');
                        sb.Append((char)value);
                    }
                    else
                    {
                        // Python keeps unknown escapes verbatim.
                        sb.Append('\\').Append(e);
                    }
                    break;
            }
        }
        tokens.Add(new JinjaToken(JinjaTokenKind.String, sb.ToString(), start));
        return p;
    }

    private static string HexEscape(JinjaSource source, string s, ref int p, int digits, int literalStart)
    {
        if (p + digits > s.Length || !int.TryParse(s.AsSpan(p, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int code))
            throw source.Error(literalStart, "Malformed \\x/\\u escape in string literal");
        p += digits;
        return char.ConvertFromUtf32(code);
    }
}
