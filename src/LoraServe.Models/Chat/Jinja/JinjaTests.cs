namespace LoraServe.Models.Chat.Jinja;

/// <summary>jinja2's built-in tests (<c>x is defined</c>, <c>x is string</c>, …) with Python's type rules.</summary>
internal static class JinjaTests
{
    private static readonly HashSet<string> Known =
    [
        "defined", "undefined", "none", "boolean", "true", "false", "integer", "float", "number", "string",
        "mapping", "iterable", "sequence", "callable", "sameas", "odd", "even", "divisibleby", "lower", "upper",
        "eq", "equalto", "==", "ne", "!=", "lt", "lessthan", "<", "le", "<=", "gt", "greaterthan", ">", "ge", ">=", "in",
    ];

    public static bool IsKnown(string name) => Known.Contains(name);

    public static bool Apply(string name, object? v, IReadOnlyList<object?> args)
    {
        object? Arg0() => args.Count > 0 ? args[0] : throw new JinjaRuntimeException($"test '{name}' needs an argument");
        return name switch
        {
            "defined" => v is not JinjaUndefined,
            "undefined" => v is JinjaUndefined,
            "none" => v is null,
            "boolean" => v is bool,
            "true" => v is true,
            "false" => v is false,
            "integer" => v is long,
            "float" => v is double,
            // Python's bool is a Number, so "true is number" holds, as in jinja2.
            "number" => v is long or double or bool,
            "string" => v is string,
            "mapping" => v is JinjaDict,
            // jinja2's Undefined defines __iter__ and __len__/__getitem__, so it passes both tests.
            "iterable" => v is string or List<object?> or JinjaDict or JinjaUndefined,
            "sequence" => v is string or List<object?> or JinjaDict or JinjaUndefined,
            "callable" => v is JinjaFunction,
            "sameas" => ReferenceEquals(v, Arg0()) || (v is null && Arg0() is null) || (v is bool b && Arg0() is bool c && b == c),
            "odd" => JinjaValues.ToLong(v) % 2 != 0,
            "even" => JinjaValues.ToLong(v) % 2 == 0,
            "divisibleby" => JinjaValues.ToLong(v) % JinjaValues.ToLong(Arg0()) == 0,
            "lower" => JinjaValues.ToStr(v) is var s && s.Any(char.IsLetter) && !s.Any(char.IsUpper),
            "upper" => JinjaValues.ToStr(v) is var u && u.Any(char.IsLetter) && !u.Any(char.IsLower),
            "eq" or "equalto" or "==" => JinjaValues.PyEquals(v, Arg0()),
            "ne" or "!=" => !JinjaValues.PyEquals(v, Arg0()),
            "lt" or "lessthan" or "<" => JinjaOperators.Compare("<", v, Arg0()) < 0,
            "le" or "<=" => JinjaOperators.Compare("<=", v, Arg0()) <= 0,
            "gt" or "greaterthan" or ">" => JinjaOperators.Compare(">", v, Arg0()) > 0,
            "ge" or ">=" => JinjaOperators.Compare(">=", v, Arg0()) >= 0,
            "in" => JinjaValues.Contains(Arg0(), v),
            _ => throw new JinjaRuntimeException($"Unsupported Jinja test '{name}'"),
        };
    }
}
