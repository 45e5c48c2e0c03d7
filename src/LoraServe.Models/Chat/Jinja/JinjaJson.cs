using System.Globalization;
using System.Text;

namespace LoraServe.Models.Chat.Jinja;

/// <summary>
/// The <c>tojson</c> filter as transformers overrides it: Python's
/// <c>json.dumps(x, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys)</c>,
/// without jinja2's HTML escaping. Default separators are ", " and ": " (",", ": " once indenting).
/// </summary>
internal static class JinjaJson
{
    public static string Dumps(object? value, bool ensureAscii, object? indent, object? separators, bool sortKeys)
    {
        string? indentUnit = indent switch
        {
            null or JinjaUndefined => null,
            long n => new string(' ', (int)Math.Max(0, n)),
            string s => s,
            _ => throw new JinjaRuntimeException($"tojson indent must be an int or a string, not {JinjaValues.TypeName(indent)}"),
        };
        string itemSeparator = indentUnit is null ? ", " : ",", keySeparator = ": ";
        if (separators is List<object?> { Count: 2 } seps && seps[0] is string a && seps[1] is string b)
        {
            itemSeparator = a;
            keySeparator = b;
        }
        else if (separators is not (null or JinjaUndefined))
        {
            throw new JinjaRuntimeException("tojson separators must be a pair of strings");
        }
        var sb = new StringBuilder();
        Write(sb, value, new Options(ensureAscii, indentUnit, itemSeparator, keySeparator, sortKeys), 0);
        return sb.ToString();
    }

    private sealed record Options(bool EnsureAscii, string? Indent, string ItemSeparator, string KeySeparator, bool SortKeys);

    private static void Write(StringBuilder sb, object? v, Options o, int depth)
    {
        switch (v)
        {
            case null: sb.Append("null"); return;
            case bool b: sb.Append(b ? "true" : "false"); return;
            case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); return;
            case double d:
                sb.Append(double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity" : JinjaValues.FloatRepr(d));
                return;
            case string s: WriteString(sb, s, o.EnsureAscii); return;
            case List<object?> list:
                if (list.Count == 0)
                {
                    sb.Append("[]");
                    return;
                }
                sb.Append('[');
                for (int i = 0; i < list.Count; i++)
                {
                    if (i > 0) sb.Append(o.ItemSeparator);
                    NewLine(sb, o, depth + 1);
                    Write(sb, list[i], o, depth + 1);
                }
                NewLine(sb, o, depth);
                sb.Append(']');
                return;
            case JinjaDict dict:
            {
                if (dict.Count == 0)
                {
                    sb.Append("{}");
                    return;
                }
                var pairs = dict.Select(kv => (Key: KeyString(kv.Key), kv.Value)).ToList();
                if (o.SortKeys) pairs.Sort((x, y) => string.CompareOrdinal(x.Key, y.Key));
                sb.Append('{');
                for (int i = 0; i < pairs.Count; i++)
                {
                    if (i > 0) sb.Append(o.ItemSeparator);
                    NewLine(sb, o, depth + 1);
                    WriteString(sb, pairs[i].Key, o.EnsureAscii);
                    sb.Append(o.KeySeparator);
                    Write(sb, pairs[i].Value, o, depth + 1);
                }
                NewLine(sb, o, depth);
                sb.Append('}');
                return;
            }
        }
        throw new JinjaRuntimeException($"Object of type {JinjaValues.TypeName(v)} is not JSON serializable");
    }

    /// <summary>json.dumps turns int/float/bool/None keys into strings the way it writes them as values.</summary>
    private static string KeyString(object key) => key switch
    {
        string s => s,
        bool b => b ? "true" : "false",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => JinjaValues.FloatRepr(d),
        _ => throw new JinjaRuntimeException($"keys must be str, int, float, bool or None, not {JinjaValues.TypeName(key)}"),
    };

    private static void NewLine(StringBuilder sb, Options o, int depth)
    {
        if (o.Indent is null) return;
        sb.Append('\n');
        for (int i = 0; i < depth; i++) sb.Append(o.Indent);
    }

    private static void WriteString(StringBuilder sb, string s, bool ensureAscii)
    {
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20 || (ensureAscii && c > 0x7e))
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else
                        sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }
}
