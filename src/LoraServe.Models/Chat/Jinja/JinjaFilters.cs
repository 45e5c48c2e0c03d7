using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace LoraServe.Models.Chat.Jinja;

/// <summary>
/// jinja2's built-in filters that chat templates use, with jinja2's argument names and defaults,
/// and transformers' <c>tojson</c> override.
/// </summary>
internal static partial class JinjaFilters
{
    private static readonly HashSet<string> Known =
    [
        "trim", "length", "count", "upper", "lower", "capitalize", "title", "string", "int", "float", "first", "last",
        "join", "default", "d", "replace", "selectattr", "rejectattr", "select", "reject", "map", "items", "list",
        "indent", "tojson", "safe", "escape", "e", "abs", "round", "sum", "min", "max", "unique", "sort", "reverse",
        "dictsort", "wordcount", "batch",
    ];

    public static bool IsKnown(string name) => Known.Contains(name);

    [GeneratedRegex(@"([-\s({\[<]+)")]
    private static partial Regex WordBeginning();

    private sealed class Args(string filter, IReadOnlyList<object?> positional, IReadOnlyDictionary<string, object?> named)
    {
        public object? Get(int index, string name, object? fallback)
        {
            if (index < positional.Count) return positional[index];
            return named.TryGetValue(name, out var v) ? v : fallback;
        }

        public bool Has(int index, string name) => index < positional.Count || named.ContainsKey(name);

        public IReadOnlyList<object?> From(int index) => positional.Skip(index).ToList();

        public string Filter => filter;
    }

    public static object? Apply(string name, object? v, IReadOnlyList<object?> positional, IReadOnlyDictionary<string, object?> named)
    {
        var a = new Args(name, positional, named);
        switch (name)
        {
            case "trim": return JinjaMethods.Strip(JinjaValues.ToStr(v), a.Get(0, "chars", null), true, true);
            case "length" or "count": return JinjaValues.Length(v);
            case "upper": return JinjaValues.ToStr(v).ToUpperInvariant();
            case "lower": return JinjaValues.ToStr(v).ToLowerInvariant();
            case "capitalize": return JinjaMethods.Capitalize(JinjaValues.ToStr(v));
            case "title":
                // jinja2's title splits on runs of "-", whitespace and opening brackets, not Python's rule.
                return string.Concat(WordBeginning().Split(JinjaValues.ToStr(v)).Where(p => p.Length > 0)
                    .Select(p => char.ToUpperInvariant(p[0]) + p[1..].ToLowerInvariant()));
            case "string": return JinjaValues.ToStr(v);
            case "safe": return v;
            case "escape" or "e": return HtmlEscape(JinjaValues.ToStr(v));
            case "int": return ToInt(v, a.Get(0, "default", 0L), a.Get(1, "base", 10L));
            case "float": return ToFloat(v, a.Get(0, "default", 0.0));
            case "first":
            {
                if (v is JinjaUndefined) return JinjaUndefined.Variable("first");
                var items = JinjaValues.Iterate(v);
                return items.Count > 0 ? items[0] : new JinjaUndefined("No first item, sequence was empty.");
            }
            case "last":
            {
                if (v is JinjaUndefined) return JinjaUndefined.Variable("last");
                var items = JinjaValues.Iterate(v);
                return items.Count > 0 ? items[^1] : new JinjaUndefined("No last item, sequence was empty.");
            }
            case "join":
            {
                string sep = JinjaValues.ToStr(a.Get(0, "d", ""));
                var items = JinjaValues.Iterate(v);
                object? attribute = a.Get(1, "attribute", null);
                if (attribute is not null) items = items.Select(x => GetPath(x, attribute)).ToList();
                return string.Join(sep, items.Select(JinjaValues.ToStr));
            }
            case "default" or "d":
            {
                bool boolean = JinjaValues.IsTruthy(a.Get(1, "boolean", false));
                bool useDefault = v is JinjaUndefined || (boolean && !JinjaValues.IsTruthy(v));
                return useDefault ? a.Get(0, "default_value", "") : v;
            }
            case "replace":
                return JinjaMethods.Replace(JinjaValues.ToStr(v), a.Get(0, "old", null), a.Get(1, "new", null), a.Get(2, "count", null));
            case "selectattr" or "rejectattr":
            {
                object? attribute = a.Get(0, "attr", null) ?? throw new JinjaRuntimeException($"{name} needs an attribute name");
                bool keep = name == "selectattr";
                return SelectOrReject(v, x => GetPath(x, attribute), a, 1, keep);
            }
            case "select" or "reject":
                return SelectOrReject(v, x => x, a, 0, name == "select");
            case "map": return Map(v, a, named);
            case "items":
                if (v is JinjaUndefined) return new List<object?>();
                if (v is not JinjaDict dict) throw new JinjaRuntimeException($"Can only get item pairs from a mapping, not {JinjaValues.TypeName(v)}");
                return dict.Select(kv => (object?)new JinjaTuple([kv.Key, kv.Value])).ToList();
            case "list": return JinjaValues.Iterate(v);
            case "indent": return Indent(JinjaValues.ToStr(v), a.Get(0, "width", 4L), JinjaValues.IsTruthy(a.Get(1, "first", false)), JinjaValues.IsTruthy(a.Get(2, "blank", false)));
            case "tojson":
                // transformers: tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).
                return JinjaJson.Dumps(v, JinjaValues.IsTruthy(a.Get(0, "ensure_ascii", false)), a.Get(1, "indent", null), a.Get(2, "separators", null), JinjaValues.IsTruthy(a.Get(3, "sort_keys", false)));
            case "abs":
                return v switch
                {
                    // Boxed per arm so an int stays an int (mixed numeric arms would widen to double).
                    long l => (object)Math.Abs(l),
                    double d => (object)Math.Abs(d),
                    bool b => (object)(b ? 1L : 0L),
                    _ => throw new JinjaRuntimeException($"bad operand type for abs(): '{JinjaValues.TypeName(v)}'"),
                };
            case "round": return Round(v, a.Get(0, "precision", 0L), a.Get(1, "method", "common"));
            case "sum":
            {
                object? attribute = a.Get(0, "attribute", null);
                object? total = a.Get(1, "start", 0L);
                foreach (var item in JinjaValues.Iterate(v)) total = JinjaOperators.Apply("+", total, attribute is null ? item : GetPath(item, attribute));
                return total;
            }
            case "min" or "max":
            {
                var items = JinjaValues.Iterate(v);
                if (items.Count == 0) return new JinjaUndefined($"No aggregated item, sequence was empty.");
                object? best = items[0];
                foreach (var item in items.Skip(1))
                {
                    int c = JinjaOperators.Compare("<", SortKey(item, a), SortKey(best, a));
                    if (name == "min" ? c < 0 : c > 0) best = item;
                }
                return best;
            }
            case "unique":
            {
                var result = new List<object?>();
                foreach (var item in JinjaValues.Iterate(v))
                {
                    if (!result.Any(x => JinjaValues.PyEquals(SortKey(x, a, 1), SortKey(item, a, 1)))) result.Add(item);
                }
                return result;
            }
            case "sort":
            {
                var items = JinjaValues.Iterate(v);
                bool reverse = JinjaValues.IsTruthy(a.Get(0, "reverse", false));
                var keyed = items.Select(x => (Key: SortKey(x, a, 2), Item: x)).ToList();
                // List.Sort is unstable; Python's sort is stable, so order by (key, original index).
                var ordered = keyed.Select((k, i) => (k.Key, k.Item, Index: i)).ToList();
                ordered.Sort((x, y) =>
                {
                    int c = JinjaOperators.Compare("<", x.Key, y.Key);
                    if (reverse) c = -c;
                    return c != 0 ? c : x.Index.CompareTo(y.Index);
                });
                return ordered.Select(x => x.Item).ToList();
            }
            case "reverse":
                if (v is string s) return JinjaValues.Slice(s, null, null, -1L);
                var reversed = JinjaValues.Iterate(v);
                reversed.Reverse();
                return reversed;
            case "dictsort":
            {
                if (v is not JinjaDict mapping) throw new JinjaRuntimeException("dictsort expects a mapping");
                bool caseSensitive = JinjaValues.IsTruthy(a.Get(0, "case_sensitive", false));
                bool byValue = JinjaValues.ToStr(a.Get(1, "by", "key")) == "value";
                bool reverse = JinjaValues.IsTruthy(a.Get(2, "reverse", false));
                var pairs = mapping.Select(kv => new JinjaTuple([kv.Key, kv.Value])).ToList();
                object? Key(JinjaTuple t) => Fold(byValue ? t[1] : t[0], caseSensitive);
                var sorted = pairs.Select((p, i) => (p, i)).ToList();
                sorted.Sort((x, y) =>
                {
                    int c = JinjaOperators.Compare("<", Key(x.p), Key(y.p));
                    if (reverse) c = -c;
                    return c != 0 ? c : x.i.CompareTo(y.i);
                });
                return sorted.Select(x => (object?)x.p).ToList();
            }
            case "wordcount": return (long)Regex.Matches(JinjaValues.ToStr(v), @"\w+").Count;
            case "batch":
            {
                long size = JinjaValues.ToLong(a.Get(0, "linecount", null));
                if (size <= 0) throw new JinjaRuntimeException("batch size must be positive");
                object? fill = a.Get(1, "fill_with", null);
                bool pad = a.Has(1, "fill_with");
                var result = new List<object?>();
                List<object?>? current = null;
                foreach (var item in JinjaValues.Iterate(v))
                {
                    current ??= [];
                    current.Add(item);
                    if (current.Count == size)
                    {
                        result.Add(current);
                        current = null;
                    }
                }
                if (current is not null)
                {
                    while (pad && current.Count < size) current.Add(fill);
                    result.Add(current);
                }
                return result;
            }
        }
        throw new JinjaRuntimeException($"Unsupported Jinja filter '{name}'");
    }

    /// <summary>Attribute lookup the way jinja2's make_attrgetter does it: dotted path, items, integer parts as indices.</summary>
    public static object? GetPath(object? item, object? attribute)
    {
        if (attribute is long index) return JinjaValues.GetItem(item, index);
        string path = JinjaMethods.RequireString(attribute, "attribute");
        object? current = item;
        foreach (string part in path.Split('.'))
        {
            object? key = long.TryParse(part, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long n) ? n : part;
            current = JinjaValues.GetItem(current, key);
        }
        return current;
    }

    private static object? Fold(object? v, bool caseSensitive) => !caseSensitive && v is string s ? s.ToLowerInvariant() : v;

    /// <summary>Key for sort/min/max/unique: optional attribute (positional slot differs per filter), case folded unless case_sensitive.</summary>
    private static object? SortKey(object? item, Args a, int attributeSlot = 1)
    {
        bool caseSensitive = JinjaValues.IsTruthy(a.Get(attributeSlot == 2 ? 1 : 0, "case_sensitive", false));
        object? attribute = a.Get(attributeSlot, "attribute", null);
        return Fold(attribute is null ? item : GetPath(item, attribute), caseSensitive);
    }

    private static List<object?> SelectOrReject(object? v, Func<object?, object?> pick, Args a, int testSlot, bool keep)
    {
        var result = new List<object?>();
        string? test = a.Has(testSlot, "") ? JinjaMethods.RequireString(a.Get(testSlot, "", null), $"{a.Filter} test name") : null;
        if (test is not null && !JinjaTests.IsKnown(test)) throw new JinjaRuntimeException($"Unsupported Jinja test '{test}'");
        var testArgs = a.From(testSlot + 1);
        foreach (var item in JinjaValues.Iterate(v))
        {
            object? value = pick(item);
            bool passed = test is null ? JinjaValues.IsTruthy(value) : JinjaTests.Apply(test, value, testArgs);
            if (passed == keep) result.Add(item);
        }
        return result;
    }

    private static List<object?> Map(object? v, Args a, IReadOnlyDictionary<string, object?> named)
    {
        var items = JinjaValues.Iterate(v);
        if (named.TryGetValue("attribute", out var attribute))
        {
            bool hasDefault = named.TryGetValue("default", out var fallback);
            return items.Select(x =>
            {
                var value = GetPath(x, attribute);
                return hasDefault && value is JinjaUndefined ? fallback : value;
            }).ToList();
        }
        string filter = JinjaMethods.RequireString(a.Get(0, "", null), "map filter name");
        if (!IsKnown(filter)) throw new JinjaRuntimeException($"Unsupported Jinja filter '{filter}'");
        var rest = a.From(1);
        var restNamed = named.Where(kv => kv.Key != "attribute").ToDictionary(kv => kv.Key, kv => kv.Value);
        return items.Select(x => Apply(filter, x, rest, restNamed)).ToList();
    }

    /// <summary>jinja2 3.x indent: appends a newline before splitting, so a trailing line break is preserved.</summary>
    private static string Indent(string s, object? width, bool first, bool blank)
    {
        string indentation = width is string w ? w : new string(' ', (int)JinjaValues.ToLong(width));
        var lines = JinjaMethods.SplitLines(s + "\n");
        string rv;
        if (blank)
        {
            rv = string.Join("\n" + indentation, lines);
        }
        else
        {
            var sb = new StringBuilder(lines.Count > 0 ? lines[0] : "");
            if (lines.Count > 1)
            {
                sb.Append('\n');
                sb.AppendJoin("\n", lines.Skip(1).Select(line => line.Length > 0 ? indentation + line : line));
            }
            rv = sb.ToString();
        }
        return first ? indentation + rv : rv;
    }

    private static object? ToInt(object? v, object? fallback, object? radix)
    {
        switch (v)
        {
            case long or bool: return JinjaValues.ToLong(v);
            case double d: return double.IsFinite(d) ? (long)Math.Truncate(d) : fallback;
            case string s:
            {
                string t = JinjaMethods.Strip(s, null, true, true).Replace("_", "");
                int b = (int)JinjaValues.ToLong(radix);
                try
                {
                    if (b == 10 && long.TryParse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l)) return l;
                    if (b != 10) return Convert.ToInt64(t, b);
                }
                catch (FormatException)
                {
                    return fallback;
                }
                return double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double f) && double.IsFinite(f) ? (long)Math.Truncate(f) : fallback;
            }
        }
        return fallback;
    }

    private static object? ToFloat(object? v, object? fallback) => v switch
    {
        long or bool => JinjaValues.ToDouble(v),
        double d => d,
        string s when double.TryParse(JinjaMethods.Strip(s, null, true, true), NumberStyles.Float, CultureInfo.InvariantCulture, out double f) => f,
        _ => fallback,
    };

    private static object Round(object? v, object? precision, object? method)
    {
        double x = JinjaValues.ToDouble(v);
        int digits = (int)JinjaValues.ToLong(precision);
        double scale = Math.Pow(10, digits);
        return JinjaValues.ToStr(method) switch
        {
            // jinja2's "common" rounds half away from zero (unlike Python's round()).
            "common" => Math.Round(x * scale, MidpointRounding.AwayFromZero) / scale,
            "ceil" => Math.Ceiling(x * scale) / scale,
            "floor" => Math.Floor(x * scale) / scale,
            var m => throw new JinjaRuntimeException($"method must be common, ceil or floor, not '{m}'"),
        };
    }

    private static string HtmlEscape(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&#34;").Replace("'", "&#39;");
}
