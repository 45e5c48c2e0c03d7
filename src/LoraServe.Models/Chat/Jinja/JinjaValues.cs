using System.Globalization;
using System.Text;

namespace LoraServe.Models.Chat.Jinja;

/// <summary>Python's object protocol for template values: truth, str(), repr(), ==, len(), iteration, attribute and item access.</summary>
internal static class JinjaValues
{
    public static string TypeName(object? v) => v switch
    {
        null => "NoneType",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        JinjaTuple => "tuple",
        List<object?> => "list",
        JinjaDict => "dict",
        JinjaUndefined => "Undefined",
        JinjaNamespace => "Namespace",
        JinjaLoopContext => "LoopContext",
        JinjaFunction => "function",
        _ => v.GetType().Name,
    };

    public static bool IsTruthy(object? v) => v switch
    {
        null or JinjaUndefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> l => l.Count > 0,
        JinjaDict d => d.Count > 0,
        _ => true,
    };

    public static bool IsNumber(object? v) => v is long or double or bool;

    /// <summary>Python <c>str(v)</c>, except Undefined prints as "" (jinja2's default Undefined).</summary>
    public static string ToStr(object? v) => v switch
    {
        string s => s,
        JinjaUndefined => "",
        _ => Repr(v),
    };

    public static string Repr(object? v)
    {
        var sb = new StringBuilder();
        AppendRepr(sb, v);
        return sb.ToString();
    }

    private static void AppendRepr(StringBuilder sb, object? v)
    {
        switch (v)
        {
            case null: sb.Append("None"); break;
            case bool b: sb.Append(b ? "True" : "False"); break;
            case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case double d: sb.Append(FloatRepr(d)); break;
            case string s: AppendStringRepr(sb, s); break;
            case JinjaUndefined: break;
            case JinjaTuple t:
                sb.Append('(');
                for (int i = 0; i < t.Count; i++)
                {
                    if (i > 0) sb.Append(", ");
                    AppendRepr(sb, t[i]);
                }
                if (t.Count == 1) sb.Append(',');
                sb.Append(')');
                break;
            case List<object?> list:
                sb.Append('[');
                for (int i = 0; i < list.Count; i++)
                {
                    if (i > 0) sb.Append(", ");
                    AppendRepr(sb, list[i]);
                }
                sb.Append(']');
                break;
            case JinjaDict dict:
                sb.Append('{');
                bool first = true;
                foreach (var (key, value) in dict)
                {
                    if (!first) sb.Append(", ");
                    first = false;
                    AppendRepr(sb, key);
                    sb.Append(": ");
                    AppendRepr(sb, value);
                }
                sb.Append('}');
                break;
            case JinjaNamespace ns:
                sb.Append("<Namespace {");
                sb.AppendJoin(", ", ns.Attributes.Select(kv => $"{Repr(kv.Key)}: {Repr(kv.Value)}"));
                sb.Append("}>");
                break;
            case JinjaFunction f: sb.Append("<function ").Append(f.Name).Append('>'); break;
            default: sb.Append(v); break;
        }
    }

    /// <summary>Python's float repr: shortest round-trip digits, ".0" on integral values, exponent form only below 1e-4 or from 1e16.</summary>
    public static string FloatRepr(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsPositiveInfinity(d)) return "inf";
        if (double.IsNegativeInfinity(d)) return "-inf";
        // "R" gives the shortest round-trip digits but picks exponent form by its own rule (from 1e15),
        // so take its digits and exponent and lay them out the way Python does.
        string r = d.ToString("R", CultureInfo.InvariantCulture);
        bool negative = r.StartsWith('-');
        if (negative) r = r[1..];
        int ePos = r.IndexOfAny(['E', 'e']);
        string mantissa = ePos < 0 ? r : r[..ePos];
        int exponent = ePos < 0 ? 0 : int.Parse(r[(ePos + 1)..], CultureInfo.InvariantCulture);
        int dot = mantissa.IndexOf('.');
        string digits = mantissa.Replace(".", "");
        int pointAt = (dot < 0 ? mantissa.Length : dot) + exponent;
        // Normalise to digits with no leading zeros and the decimal exponent of the first digit.
        int lead = 0;
        while (lead < digits.Length - 1 && digits[lead] == '0')
        {
            lead++;
            pointAt--;
        }
        digits = digits[lead..].TrimEnd('0');
        if (digits.Length == 0) return negative ? "-0.0" : "0.0";
        int sciExponent = pointAt - 1;
        string body;
        if (sciExponent < -4 || sciExponent >= 16)
        {
            string frac = digits.Length > 1 ? "." + digits[1..] : "";
            body = $"{digits[0]}{frac}e{(sciExponent < 0 ? "-" : "+")}{Math.Abs(sciExponent):00}";
        }
        else if (pointAt <= 0)
        {
            body = "0." + new string('0', -pointAt) + digits;
        }
        else if (pointAt >= digits.Length)
        {
            body = digits + new string('0', pointAt - digits.Length) + ".0";
        }
        else
        {
            body = digits[..pointAt] + "." + digits[pointAt..];
        }
        return negative ? "-" + body : body;
    }

    private static void AppendStringRepr(StringBuilder sb, string s)
    {
        char quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        sb.Append(quote);
        foreach (char c in s)
        {
            switch (c)
            {
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c == quote) sb.Append('\\').Append(c);
                    else if (c < 0x20 || c == 0x7f) sb.Append("\\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append(quote);
    }

    /// <summary>Python ==: numbers by value (True == 1), containers element-wise, Undefined equals only Undefined.</summary>
    public static bool PyEquals(object? a, object? b)
    {
        if (ReferenceEquals(a, b)) return true;
        if (a is null || b is null) return false;
        if (IsNumber(a) && IsNumber(b))
        {
            if (a is double || b is double) return ToDouble(a) == ToDouble(b);
            return ToLong(a) == ToLong(b);
        }
        switch (a)
        {
            case string sa: return b is string sb && string.Equals(sa, sb, StringComparison.Ordinal);
            case JinjaUndefined: return b is JinjaUndefined;
            case List<object?> la:
                if (b is not List<object?> lb || la.Count != lb.Count || (a is JinjaTuple) != (b is JinjaTuple)) return false;
                for (int i = 0; i < la.Count; i++)
                {
                    if (!PyEquals(la[i], lb[i])) return false;
                }
                return true;
            case JinjaDict da:
                if (b is not JinjaDict db || da.Count != db.Count) return false;
                foreach (var (key, value) in da)
                {
                    if (!db.TryGetValue(key, out var other) || !PyEquals(value, other)) return false;
                }
                return true;
        }
        return a.Equals(b);
    }

    public static double ToDouble(object? v) => v switch
    {
        bool b => b ? 1 : 0,
        long l => l,
        double d => d,
        _ => throw new JinjaRuntimeException($"'{TypeName(v)}' is not a number"),
    };

    public static long ToLong(object? v) => v switch
    {
        bool b => b ? 1 : 0,
        long l => l,
        _ => throw new JinjaRuntimeException($"'{TypeName(v)}' object cannot be interpreted as an integer"),
    };

    public static JinjaRuntimeException UndefinedError(JinjaUndefined u) => new(u.Hint);

    // ---- strings as Python sees them: sequences of code points, not UTF-16 units ----

    public static bool HasSurrogates(string s)
    {
        foreach (char c in s)
        {
            if (char.IsSurrogate(c)) return true;
        }
        return false;
    }

    public static List<string> CodePoints(string s)
    {
        var list = new List<string>(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                list.Add(s.Substring(i, 2));
                i++;
            }
            else
            {
                list.Add(s[i].ToString());
            }
        }
        return list;
    }

    public static int StringLength(string s) => HasSurrogates(s) ? CodePoints(s).Count : s.Length;

    public static long Length(object? v) => v switch
    {
        string s => StringLength(s),
        List<object?> l => l.Count,
        JinjaDict d => d.Count,
        JinjaUndefined => 0,
        _ => throw new JinjaRuntimeException($"object of type '{TypeName(v)}' has no len()"),
    };

    /// <summary>Python iteration: list items, dict keys, string code points; Undefined iterates as empty.</summary>
    public static List<object?> Iterate(object? v) => v switch
    {
        List<object?> l => [.. l],
        JinjaDict d => [.. d.Keys],
        string s => HasSurrogates(s) ? CodePoints(s).Cast<object?>().ToList() : s.Select(c => (object?)c.ToString()).ToList(),
        JinjaUndefined => [],
        _ => throw new JinjaRuntimeException($"'{TypeName(v)}' object is not iterable"),
    };

    /// <summary>
    /// jinja2's <c>getattr</c>: a Python attribute first (so <c>d.items</c> is the method), then the
    /// item of that name; a miss is Undefined, but any access on Undefined itself raises.
    /// </summary>
    public static object? GetAttribute(object? target, string name)
    {
        switch (target)
        {
            case JinjaUndefined u: throw UndefinedError(u);
            case JinjaDict d:
                if (JinjaMethods.TryBindDict(d, name, out var dm)) return dm;
                return d.TryGetValue(name, out var value) ? value : JinjaUndefined.Missing(d, name);
            case string s:
                return JinjaMethods.TryBindString(s, name, out var sm) ? sm : JinjaUndefined.Missing(s, name);
            case List<object?> l:
                return JinjaMethods.TryBindList(l, name, out var lm) ? lm : JinjaUndefined.Missing(l, name);
            case JinjaNamespace ns:
                return ns.Attributes.TryGetValue(name, out var nv) ? nv : JinjaUndefined.Missing(ns, name);
            case JinjaLoopContext loop:
                return loop.GetAttribute(name);
        }
        return JinjaUndefined.Missing(target, name);
    }

    /// <summary>jinja2's <c>getitem</c>: the item first, then (for a string key) the attribute; out of range is Undefined.</summary>
    public static object? GetItem(object? target, object? key)
    {
        switch (target)
        {
            case JinjaUndefined u: throw UndefinedError(u);
            case JinjaDict d:
                if (key is not null && d.TryGetValue(key, out var value)) return value;
                break;
            case List<object?> l when key is long or bool:
            {
                long i = ToLong(key);
                if (i < 0) i += l.Count;
                if (i >= 0 && i < l.Count) return l[(int)i];
                return JinjaUndefined.Missing(target, Repr(key));
            }
            case string s when key is long or bool:
            {
                var cps = HasSurrogates(s) ? CodePoints(s) : null;
                int n = cps?.Count ?? s.Length;
                long i = ToLong(key);
                if (i < 0) i += n;
                if (i >= 0 && i < n) return cps is null ? s[(int)i].ToString() : cps[(int)i];
                return JinjaUndefined.Missing(target, Repr(key));
            }
        }
        if (key is string name) return GetAttribute(target, name);
        return JinjaUndefined.Missing(target, Repr(key));
    }

    public static object? Slice(object? target, object? start, object? stop, object? step)
    {
        if (target is JinjaUndefined u) throw UndefinedError(u);
        long stepValue = step is null or JinjaUndefined ? 1 : ToLong(step);
        if (stepValue == 0) throw new JinjaRuntimeException("slice step cannot be zero");
        switch (target)
        {
            case List<object?> l:
            {
                var picked = SliceIndices(l.Count, start, stop, stepValue).Select(i => l[i]);
                return target is JinjaTuple ? new JinjaTuple(picked) : picked.ToList();
            }
            case string s:
            {
                if (!HasSurrogates(s))
                {
                    var sb = new StringBuilder();
                    foreach (int i in SliceIndices(s.Length, start, stop, stepValue)) sb.Append(s[i]);
                    return sb.ToString();
                }
                var cps = CodePoints(s);
                return string.Concat(SliceIndices(cps.Count, start, stop, stepValue).Select(i => cps[i]));
            }
        }
        throw new JinjaRuntimeException($"'{TypeName(target)}' object is not subscriptable");
    }

    /// <summary>Python's slice.indices semantics, including negative bounds and steps.</summary>
    private static IEnumerable<int> SliceIndices(int n, object? start, object? stop, long step)
    {
        static long? Bound(object? v) => v is null or JinjaUndefined ? null : ToLong(v);
        long? s0 = Bound(start), e0 = Bound(stop);
        long lo, hi;
        if (step > 0)
        {
            lo = s0 is null ? 0 : Clamp(s0.Value < 0 ? s0.Value + n : s0.Value, 0, n);
            hi = e0 is null ? n : Clamp(e0.Value < 0 ? e0.Value + n : e0.Value, 0, n);
            for (long i = lo; i < hi; i += step) yield return (int)i;
        }
        else
        {
            lo = s0 is null ? n - 1 : Clamp(s0.Value < 0 ? s0.Value + n : s0.Value, -1, n - 1);
            hi = e0 is null ? -1 : Clamp(e0.Value < 0 ? e0.Value + n : e0.Value, -1, n - 1);
            for (long i = lo; i > hi; i += step) yield return (int)i;
        }
    }

    private static long Clamp(long v, long min, long max) => v < min ? min : v > max ? max : v;

    /// <summary>Python's <c>in</c>.</summary>
    public static bool Contains(object? container, object? item) => container switch
    {
        string s => item is string sub ? s.Contains(sub, StringComparison.Ordinal) : throw new JinjaRuntimeException($"'in <string>' requires string as left operand, not {TypeName(item)}"),
        List<object?> l => l.Any(x => PyEquals(x, item)),
        JinjaDict d => item is not null && d.ContainsKey(item),
        JinjaUndefined => false,
        _ => throw new JinjaRuntimeException($"argument of type '{TypeName(container)}' is not iterable"),
    };
}
