namespace LoraServe.Models.Chat.Jinja;

/// <summary>Python's binary operators over template values; a type mismatch raises Python's TypeError text.</summary>
internal static class JinjaOperators
{
    public static object? Apply(string op, object? a, object? b)
    {
        if (op == "~") return JinjaValues.ToStr(a) + JinjaValues.ToStr(b);
        switch (op)
        {
            case "==": return JinjaValues.PyEquals(a, b);
            case "!=": return !JinjaValues.PyEquals(a, b);
            case "in": return JinjaValues.Contains(b, a);
            case "not in": return !JinjaValues.Contains(b, a);
            case "<": return Compare(op, a, b) < 0;
            case ">": return Compare(op, a, b) > 0;
            case "<=": return Compare(op, a, b) <= 0;
            case ">=": return Compare(op, a, b) >= 0;
        }
        if (a is JinjaUndefined ua) throw JinjaValues.UndefinedError(ua);
        if (b is JinjaUndefined ub) throw JinjaValues.UndefinedError(ub);
        return op switch
        {
            "+" => Add(a, b),
            "-" => Numeric(op, a, b, (x, y) => checked(x - y), (x, y) => x - y),
            "*" => Multiply(a, b),
            "/" => TrueDivide(a, b),
            "//" => FloorDivide(a, b),
            "%" => Modulo(a, b),
            "**" => Power(a, b),
            _ => throw new JinjaRuntimeException($"Unsupported operator '{op}'"),
        };
    }

    private static JinjaRuntimeException TypeError(string op, object? a, object? b) =>
        new($"unsupported operand type(s) for {op}: '{JinjaValues.TypeName(a)}' and '{JinjaValues.TypeName(b)}'");

    private static object Numeric(string op, object? a, object? b, Func<long, long, long> onLong, Func<double, double, double> onDouble)
    {
        if (!JinjaValues.IsNumber(a) || !JinjaValues.IsNumber(b)) throw TypeError(op, a, b);
        if (a is double || b is double) return onDouble(JinjaValues.ToDouble(a), JinjaValues.ToDouble(b));
        try
        {
            return onLong(JinjaValues.ToLong(a), JinjaValues.ToLong(b));
        }
        catch (OverflowException)
        {
            throw new JinjaRuntimeException($"integer overflow in '{op}'");
        }
    }

    private static object? Add(object? a, object? b)
    {
        if (a is string sa && b is string sb) return sa + sb;
        if (a is JinjaTuple ta && b is JinjaTuple tb) return new JinjaTuple(ta.Concat(tb));
        if (a is List<object?> la && b is List<object?> lb && a is not JinjaTuple && b is not JinjaTuple) return la.Concat(lb).ToList();
        if (a is string || b is string)
        {
            // Python's wording for the most common template bug: str + non-str.
            if (a is string) throw new JinjaRuntimeException($"can only concatenate str (not \"{JinjaValues.TypeName(b)}\") to str");
            throw TypeError("+", a, b);
        }
        return Numeric("+", a, b, (x, y) => checked(x + y), (x, y) => x + y);
    }

    private static object? Multiply(object? a, object? b)
    {
        if (a is string s && b is long or bool) return Repeat(s, JinjaValues.ToLong(b));
        if (b is string s2 && a is long or bool) return Repeat(s2, JinjaValues.ToLong(a));
        if (a is List<object?> l && b is long n)
        {
            var result = new List<object?>();
            for (long i = 0; i < n; i++) result.AddRange(l);
            return a is JinjaTuple ? new JinjaTuple(result) : result;
        }
        return Numeric("*", a, b, (x, y) => checked(x * y), (x, y) => x * y);
    }

    private static string Repeat(string s, long n) => n <= 0 ? "" : string.Concat(Enumerable.Repeat(s, checked((int)n)));

    private static object TrueDivide(object? a, object? b)
    {
        if (!JinjaValues.IsNumber(a) || !JinjaValues.IsNumber(b)) throw TypeError("/", a, b);
        double y = JinjaValues.ToDouble(b);
        if (y == 0) throw new JinjaRuntimeException("division by zero");
        return JinjaValues.ToDouble(a) / y;
    }

    private static object FloorDivide(object? a, object? b)
    {
        if (!JinjaValues.IsNumber(a) || !JinjaValues.IsNumber(b)) throw TypeError("//", a, b);
        if (JinjaValues.ToDouble(b) == 0) throw new JinjaRuntimeException("integer division or modulo by zero");
        if (a is double || b is double) return Math.Floor(JinjaValues.ToDouble(a) / JinjaValues.ToDouble(b));
        long x = JinjaValues.ToLong(a), y = JinjaValues.ToLong(b);
        long q = x / y;
        if ((x % y != 0) && ((x < 0) != (y < 0))) q--;
        return q;
    }

    private static object Modulo(object? a, object? b)
    {
        if (a is string) throw new JinjaRuntimeException("Unsupported Jinja construct 'printf-style string formatting (str % value)'");
        if (!JinjaValues.IsNumber(a) || !JinjaValues.IsNumber(b)) throw TypeError("%", a, b);
        if (JinjaValues.ToDouble(b) == 0) throw new JinjaRuntimeException("integer division or modulo by zero");
        if (a is double || b is double)
        {
            double x = JinjaValues.ToDouble(a), y = JinjaValues.ToDouble(b);
            double r = x % y;
            return r != 0 && (r < 0) != (y < 0) ? r + y : r;
        }
        long lx = JinjaValues.ToLong(a), ly = JinjaValues.ToLong(b);
        long m = lx % ly;
        // Python's remainder takes the divisor's sign.
        return m != 0 && (m < 0) != (ly < 0) ? m + ly : m;
    }

    private static object Power(object? a, object? b)
    {
        if (!JinjaValues.IsNumber(a) || !JinjaValues.IsNumber(b)) throw TypeError("**", a, b);
        if (a is double || b is double || JinjaValues.ToLong(b) < 0) return Math.Pow(JinjaValues.ToDouble(a), JinjaValues.ToDouble(b));
        long x = JinjaValues.ToLong(a), e = JinjaValues.ToLong(b), r = 1;
        try
        {
            for (long i = 0; i < e; i++) r = checked(r * x);
        }
        catch (OverflowException)
        {
            throw new JinjaRuntimeException("integer overflow in '**'");
        }
        return r;
    }

    public static int Compare(string op, object? a, object? b)
    {
        if (JinjaValues.IsNumber(a) && JinjaValues.IsNumber(b)) return JinjaValues.ToDouble(a).CompareTo(JinjaValues.ToDouble(b));
        if (a is string sa && b is string sb) return string.CompareOrdinal(sa, sb);
        if (a is List<object?> la && b is List<object?> lb)
        {
            for (int i = 0; i < Math.Min(la.Count, lb.Count); i++)
            {
                if (!JinjaValues.PyEquals(la[i], lb[i])) return Compare(op, la[i], lb[i]);
            }
            return la.Count.CompareTo(lb.Count);
        }
        if (a is JinjaUndefined ua) throw JinjaValues.UndefinedError(ua);
        if (b is JinjaUndefined ub) throw JinjaValues.UndefinedError(ub);
        throw new JinjaRuntimeException($"'{op}' not supported between instances of '{JinjaValues.TypeName(a)}' and '{JinjaValues.TypeName(b)}'");
    }
}
