using System.Globalization;
using System.Text;

namespace LoraServe.Models.Chat.Jinja;

/// <summary>
/// Globals a transformers template can call: jinja2's <c>range</c>, <c>namespace</c>, <c>dict</c>,
/// plus transformers' <c>raise_exception</c> and <c>strftime_now</c>.
/// </summary>
internal static class JinjaGlobals
{
    public static JinjaScope Create(Func<DateTime> now)
    {
        var scope = new JinjaScope(null);
        scope.Set("raise_exception", new JinjaFunction("raise_exception", (args, _) =>
            throw new ChatTemplateException(args.Count > 0 ? JinjaValues.ToStr(args[0]) : "raise_exception() called") { RaisedByTemplate = true }));
        scope.Set("namespace", new JinjaFunction("namespace", (args, named) =>
        {
            var ns = new JinjaNamespace();
            foreach (var arg in args)
            {
                if (arg is not JinjaDict d) throw new JinjaRuntimeException("namespace() takes keyword arguments or a mapping");
                foreach (var (k, v) in d) ns.Attributes[JinjaValues.ToStr(k)] = v;
            }
            foreach (var (k, v) in named) ns.Attributes[k] = v;
            return ns;
        }));
        scope.Set("dict", new JinjaFunction("dict", (args, named) =>
        {
            var d = new JinjaDict();
            foreach (var arg in args)
            {
                if (arg is not JinjaDict source) throw new JinjaRuntimeException("dict() takes keyword arguments or a mapping");
                foreach (var (k, v) in source) d[k] = v;
            }
            foreach (var (k, v) in named) d[k] = v;
            return d;
        }));
        scope.Set("range", new JinjaFunction("range", (args, _) =>
        {
            long start = 0, stop, step = 1;
            switch (args.Count)
            {
                case 1: stop = JinjaValues.ToLong(args[0]); break;
                case 2: start = JinjaValues.ToLong(args[0]); stop = JinjaValues.ToLong(args[1]); break;
                case 3: start = JinjaValues.ToLong(args[0]); stop = JinjaValues.ToLong(args[1]); step = JinjaValues.ToLong(args[2]); break;
                default: throw new JinjaRuntimeException("range expected 1 to 3 arguments");
            }
            if (step == 0) throw new JinjaRuntimeException("range() arg 3 must not be zero");
            // The sandbox caps range at 100000 items (jinja2's MAX_RANGE).
            var list = new List<object?>();
            for (long i = start; step > 0 ? i < stop : i > stop; i += step)
            {
                if (list.Count >= 100_000) throw new JinjaRuntimeException("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
                list.Add(i);
            }
            return list;
        }));
        scope.Set("strftime_now", new JinjaFunction("strftime_now", (args, _) =>
            Strftime(now(), JinjaMethods.RequireString(args.Count > 0 ? args[0] : null, "strftime_now"))));
        return scope;
    }

    /// <summary>The strftime directives date-aware templates use (Llama 3.2/3.3: "%d %b %Y").</summary>
    public static string Strftime(DateTime t, string format)
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length)
            {
                sb.Append(format[i]);
                continue;
            }
            char d = format[++i];
            sb.Append(d switch
            {
                'd' => t.ToString("dd", c),
                'm' => t.ToString("MM", c),
                'Y' => t.ToString("yyyy", c),
                'y' => t.ToString("yy", c),
                'b' => t.ToString("MMM", c),
                'B' => t.ToString("MMMM", c),
                'a' => t.ToString("ddd", c),
                'A' => t.ToString("dddd", c),
                'H' => t.ToString("HH", c),
                'I' => t.ToString("hh", c),
                'M' => t.ToString("mm", c),
                'S' => t.ToString("ss", c),
                'p' => t.Hour < 12 ? "AM" : "PM",
                'j' => t.DayOfYear.ToString("000", c),
                '%' => "%",
                _ => throw new JinjaRuntimeException($"Unsupported strftime directive '%{d}'"),
            });
        }
        return sb.ToString();
    }
}
