namespace LoraServe.Models.Chat.Jinja;

/// <summary>
/// A variable frame. jinja2 gives each for-loop iteration and each macro call its own frame, so a
/// <c>set</c> inside a loop is invisible after it (the reason templates use <c>namespace()</c>);
/// <c>if</c> blocks share the enclosing frame.
/// </summary>
internal sealed class JinjaScope(JinjaScope? parent)
{
    private readonly Dictionary<string, object?> _vars = new(StringComparer.Ordinal);

    public bool TryGet(string name, out object? value)
    {
        for (var s = this; s is not null; s = s.Parent)
        {
            if (s._vars.TryGetValue(name, out value)) return true;
        }
        value = null;
        return false;
    }

    public JinjaScope? Parent { get; } = parent;

    public void Set(string name, object? value) => _vars[name] = value;
}
