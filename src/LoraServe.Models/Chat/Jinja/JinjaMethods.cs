using System.Globalization;
using System.Text;

namespace LoraServe.Models.Chat.Jinja;

/// <summary>
/// The Python str/dict/list methods templates call (<c>s.strip()</c>, <c>d.items()</c>, …). Mutating
/// methods are refused because transformers renders in jinja2's ImmutableSandboxedEnvironment.
/// </summary>
internal static class JinjaMethods
{
    private static readonly HashSet<string> MutatingListMethods = ["append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse"];
    private static readonly HashSet<string> MutatingDictMethods = ["pop", "popitem", "update", "setdefault", "clear"];

    private static JinjaFunction Method(string name, JinjaCallable body) => new(name, body);

    private static object? Arg(IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> named, int index, string name, object? fallback)
    {
        if (index < args.Count) return args[index];
        return named.TryGetValue(name, out var v) ? v : fallback;
    }

    private static JinjaRuntimeException Immutable(string type, string name) =>
        new($"Unsupported Jinja construct '{type}.{name}()': the template sandbox is immutable, as in transformers");

    public static bool TryBindDict(JinjaDict d, string name, out object? method)
    {
        method = name switch
        {
            "items" => Method("dict.items", (_, _) => d.Select(kv => (object?)new JinjaTuple([kv.Key, kv.Value])).ToList()),
            "keys" => Method("dict.keys", (_, _) => d.Keys.Cast<object?>().ToList()),
            "values" => Method("dict.values", (_, _) => d.Values.ToList()),
            "get" => Method("dict.get", (a, n) =>
            {
                object? key = Arg(a, n, 0, "key", null);
                return key is not null && d.TryGetValue(key, out var v) ? v : Arg(a, n, 1, "default", null);
            }),
            _ when MutatingDictMethods.Contains(name) => Method("dict." + name, (_, _) => throw Immutable("dict", name)),
            _ => null,
        };
        return method is not null;
    }

    public static bool TryBindList(List<object?> l, string name, out object? method)
    {
        method = name switch
        {
            "index" => Method("list.index", (a, n) =>
            {
                object? item = Arg(a, n, 0, "value", null);
                int i = l.FindIndex(x => JinjaValues.PyEquals(x, item));
                return i >= 0 ? (long)i : throw new JinjaRuntimeException($"{JinjaValues.Repr(item)} is not in list");
            }),
            "count" => Method("list.count", (a, n) => (long)l.Count(x => JinjaValues.PyEquals(x, Arg(a, n, 0, "value", null)))),
            _ when MutatingListMethods.Contains(name) => Method("list." + name, (_, _) => throw Immutable("list", name)),
            _ => null,
        };
        return method is not null;
    }

    public static bool TryBindString(string s, string name, out object? method)
    {
        method = name switch
        {
            "upper" => Method("str.upper", (_, _) => s.ToUpperInvariant()),
            "lower" => Method("str.lower", (_, _) => s.ToLowerInvariant()),
            "strip" => Method("str.strip", (a, n) => Strip(s, Arg(a, n, 0, "chars", null), true, true)),
            "lstrip" => Method("str.lstrip", (a, n) => Strip(s, Arg(a, n, 0, "chars", null), true, false)),
            "rstrip" => Method("str.rstrip", (a, n) => Strip(s, Arg(a, n, 0, "chars", null), false, true)),
            "startswith" => Method("str.startswith", (a, n) => AffixTest(s, Arg(a, n, 0, "prefix", null), prefix: true)),
            "endswith" => Method("str.endswith", (a, n) => AffixTest(s, Arg(a, n, 0, "suffix", null), prefix: false)),
            "split" => Method("str.split", (a, n) => Split(s, Arg(a, n, 0, "sep", null), Arg(a, n, 1, "maxsplit", -1L))),
            "splitlines" => Method("str.splitlines", (_, _) => SplitLines(s).Cast<object?>().ToList()),
            "title" => Method("str.title", (_, _) => PythonTitle(s)),
            "capitalize" => Method("str.capitalize", (_, _) => Capitalize(s)),
            "replace" => Method("str.replace", (a, n) => Replace(s, Arg(a, n, 0, "old", null), Arg(a, n, 1, "new", null), Arg(a, n, 2, "count", -1L))),
            "find" => Method("str.find", (a, n) => (long)s.IndexOf(RequireString(Arg(a, n, 0, "sub", null), "str.find"), StringComparison.Ordinal)),
            "rfind" => Method("str.rfind", (a, n) => (long)s.LastIndexOf(RequireString(Arg(a, n, 0, "sub", null), "str.rfind"), StringComparison.Ordinal)),
            "count" => Method("str.count", (a, n) => (long)CountOccurrences(s, RequireString(Arg(a, n, 0, "sub", null), "str.count"))),
            "join" => Method("str.join", (a, n) => string.Join(s, JinjaValues.Iterate(Arg(a, n, 0, "iterable", null)).Select(x =>
                x as string ?? throw new JinjaRuntimeException($"sequence item: expected str instance, {JinjaValues.TypeName(x)} found")))),
            "isdigit" => Method("str.isdigit", (_, _) => s.Length > 0 && s.All(char.IsDigit)),
            "isspace" => Method("str.isspace", (_, _) => s.Length > 0 && s.All(IsPythonWhitespace)),
            "isalpha" => Method("str.isalpha", (_, _) => s.Length > 0 && s.All(char.IsLetter)),
            "isupper" => Method("str.isupper", (_, _) => s.Any(char.IsLetter) && !s.Any(char.IsLower)),
            "islower" => Method("str.islower", (_, _) => s.Any(char.IsLetter) && !s.Any(char.IsUpper)),
            _ => null,
        };
        return method is not null;
    }

    public static string RequireString(object? v, string where) =>
        v as string ?? throw new JinjaRuntimeException($"{where} expects a string, not {JinjaValues.TypeName(v)}");

    /// <summary>Python's str.isspace set: Unicode whitespace plus the \x1c–\x1f separators.</summary>
    public static bool IsPythonWhitespace(char c) => char.IsWhiteSpace(c) || c is >= '\x1c' and <= '\x1f';

    public static string Strip(string s, object? chars, bool left, bool right)
    {
        Func<char, bool> strip = chars switch
        {
            null or JinjaUndefined => IsPythonWhitespace,
            string set => set.Contains,
            _ => throw new JinjaRuntimeException($"strip arg must be None or str, not {JinjaValues.TypeName(chars)}"),
        };
        int start = 0, end = s.Length;
        if (left)
        {
            while (start < end && strip(s[start])) start++;
        }
        if (right)
        {
            while (end > start && strip(s[end - 1])) end--;
        }
        return s[start..end];
    }

    private static bool AffixTest(string s, object? affix, bool prefix)
    {
        if (affix is List<object?> options) return options.Any(o => AffixTest(s, o, prefix));
        string a = RequireString(affix, prefix ? "str.startswith" : "str.endswith");
        return prefix ? s.StartsWith(a, StringComparison.Ordinal) : s.EndsWith(a, StringComparison.Ordinal);
    }

    private static List<object?> Split(string s, object? sep, object? maxSplit)
    {
        long max = maxSplit is null ? -1 : JinjaValues.ToLong(maxSplit);
        var parts = new List<object?>();
        if (sep is null or JinjaUndefined)
        {
            // Whitespace split: runs of whitespace separate, leading/trailing runs produce nothing.
            int i = 0;
            while (true)
            {
                while (i < s.Length && IsPythonWhitespace(s[i])) i++;
                if (i >= s.Length) break;
                if (max >= 0 && parts.Count == max)
                {
                    // The unsplit remainder keeps its trailing whitespace, as in Python.
                    parts.Add(s[i..]);
                    break;
                }
                int start = i;
                while (i < s.Length && !IsPythonWhitespace(s[i])) i++;
                parts.Add(s[start..i]);
            }
            return parts;
        }
        string separator = RequireString(sep, "str.split");
        if (separator.Length == 0) throw new JinjaRuntimeException("empty separator");
        int from = 0;
        while (max < 0 || parts.Count < max)
        {
            int at = s.IndexOf(separator, from, StringComparison.Ordinal);
            if (at < 0) break;
            parts.Add(s[from..at]);
            from = at + separator.Length;
        }
        parts.Add(s[from..]);
        return parts;
    }

    public static List<string> SplitLines(string s)
    {
        var lines = new List<string>();
        int start = 0;
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (c is '\n' or '\r' or '\v' or '\f' or '\x1c' or '\x1d' or '\x1e' or '\x85' or '\u2028' or '\u2029')
            {
                lines.Add(s[start..i]);
                if (c == '\r' && i + 1 < s.Length && s[i + 1] == '\n') i++;
                start = i + 1;
            }
        }
        if (start < s.Length) lines.Add(s[start..]);
        return lines;
    }

    /// <summary>Python str.title: a letter after a non-letter is upper-cased, every other letter lower-cased.</summary>
    public static string PythonTitle(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool previousCased = false;
        foreach (char c in s)
        {
            bool cased = char.IsLetter(c);
            sb.Append(cased ? (previousCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c)) : c);
            previousCased = cased;
        }
        return sb.ToString();
    }

    public static string Capitalize(string s) =>
        s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    public static string Replace(string s, object? oldValue, object? newValue, object? count)
    {
        string o = RequireString(oldValue, "replace"), n = RequireString(newValue, "replace");
        long max = count is null or JinjaUndefined ? -1 : JinjaValues.ToLong(count);
        if (o.Length == 0) return InsertAtBoundaries(s, n, max);
        if (max < 0) return s.Replace(o, n, StringComparison.Ordinal);
        var sb = new StringBuilder();
        int from = 0;
        for (long done = 0; done < max; done++)
        {
            int at = s.IndexOf(o, from, StringComparison.Ordinal);
            if (at < 0) break;
            sb.Append(s, from, at - from).Append(n);
            from = at + o.Length;
        }
        return sb.Append(s, from, s.Length - from).ToString();
    }

    /// <summary>Python's replace with an empty needle inserts at every boundary: "ab".replace("", "_", 2) == "_a_b".</summary>
    private static string InsertAtBoundaries(string s, string n, long max)
    {
        var sb = new StringBuilder();
        long inserted = 0;
        for (int i = 0; i <= s.Length; i++)
        {
            if (max < 0 || inserted < max)
            {
                sb.Append(n);
                inserted++;
            }
            if (i < s.Length) sb.Append(s[i]);
        }
        return sb.ToString();
    }

    private static int CountOccurrences(string s, string sub)
    {
        if (sub.Length == 0) return s.Length + 1;
        int count = 0;
        for (int at = s.IndexOf(sub, StringComparison.Ordinal); at >= 0; at = s.IndexOf(sub, at + sub.Length, StringComparison.Ordinal)) count++;
        return count;
    }
}
