namespace LoraServe.Models.Chat.Jinja;

// Value model (Python's, as jinja2 sees it): null = None, bool, long = int, double = float,
// string = str, List<object?> = list, JinjaTuple = tuple, JinjaDict = dict (insertion-ordered),
// plus the runtime-only kinds below.

/// <summary>jinja2's default <c>Undefined</c>: falsy, prints as "", iterates as empty, and raises on attribute access or arithmetic.</summary>
internal sealed class JinjaUndefined(string hint)
{
    /// <summary>What jinja2 would say when this value is misused, e.g. "'foo' is undefined".</summary>
    public string Hint { get; } = hint;

    public static JinjaUndefined Variable(string name) => new($"'{name}' is undefined");

    public static JinjaUndefined Missing(object? owner, string attribute) => new($"'{JinjaValues.TypeName(owner)} object' has no attribute '{attribute}'");
}

internal sealed class JinjaTuple : List<object?>
{
    public JinjaTuple() { }

    public JinjaTuple(IEnumerable<object?> items) : base(items) { }
}

internal sealed class JinjaDict : OrderedDictionary<object, object?>
{
    public JinjaDict() : base(JinjaKeyComparer.Instance) { }
}

/// <summary>Python dict-key equality: 1 == 1.0 == True, strings ordinal.</summary>
internal sealed class JinjaKeyComparer : IEqualityComparer<object>
{
    public static readonly JinjaKeyComparer Instance = new();

    public new bool Equals(object? x, object? y) => JinjaValues.PyEquals(x, y);

    public int GetHashCode(object obj) => obj switch
    {
        bool b => b ? 1 : 0,
        long l => l.GetHashCode(),
        double d when d == Math.Floor(d) && Math.Abs(d) < 9.2e18 => ((long)d).GetHashCode(),
        string s => StringComparer.Ordinal.GetHashCode(s),
        _ => obj.GetHashCode(),
    };
}

/// <summary>The object <c>namespace(...)</c> returns: the one value whose attributes a loop body may assign.</summary>
internal sealed class JinjaNamespace
{
    public Dictionary<string, object?> Attributes { get; } = new(StringComparer.Ordinal);
}

internal delegate object? JinjaCallable(IReadOnlyList<object?> positional, IReadOnlyDictionary<string, object?> named);

internal sealed class JinjaFunction(string name, JinjaCallable body)
{
    public string Name { get; } = name;

    public object? Invoke(IReadOnlyList<object?> positional, IReadOnlyDictionary<string, object?> named) => body(positional, named);
}

/// <summary>The <c>loop</c> variable inside a for body.</summary>
internal sealed class JinjaLoopContext(IReadOnlyList<object?> items)
{
    public int Index0 { get; set; }

    public object? GetAttribute(string name)
    {
        int n = items.Count;
        return name switch
        {
            "index" => (long)(Index0 + 1),
            "index0" => (long)Index0,
            "revindex" => (long)(n - Index0),
            "revindex0" => (long)(n - Index0 - 1),
            "first" => Index0 == 0,
            "last" => Index0 == n - 1,
            "length" => (long)n,
            "depth" => 1L,
            "depth0" => 0L,
            "previtem" => Index0 > 0 ? items[Index0 - 1] : JinjaUndefined.Variable("previtem"),
            "nextitem" => Index0 + 1 < n ? items[Index0 + 1] : JinjaUndefined.Variable("nextitem"),
            "cycle" => new JinjaFunction("loop.cycle", (args, _) =>
                args.Count == 0 ? throw new JinjaRuntimeException("loop.cycle() needs at least one argument") : args[Index0 % args.Count]),
            _ => JinjaUndefined.Missing(this, name),
        };
    }
}

/// <summary>A runtime error without a position yet; the interpreter adds the position of the failing node.</summary>
internal sealed class JinjaRuntimeException(string message) : Exception(message);
