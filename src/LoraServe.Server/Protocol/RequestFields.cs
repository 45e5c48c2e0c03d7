using System.Text.Json;

namespace LoraServe.Server.Protocol;

/// <summary>
/// Strict reading of one JSON object of a request: every field must be one the caller asks for
/// (anything else is a 400 naming it, as OpenAI answers "Unrecognized request argument"), and every
/// value must have the documented type and range. <c>param</c> in each error is the field's path,
/// e.g. <c>messages[2].content</c>. JSON null counts as absent, as it does for the OpenAI API.
/// </summary>
internal sealed class RequestFields
{
    private readonly Dictionary<string, JsonElement> _fields = new(StringComparer.Ordinal);
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);
    private readonly string _prefix;

    public RequestFields(JsonElement element, string path)
    {
        if (element.ValueKind != JsonValueKind.Object)
            throw ApiException.BadRequest(path.Length == 0 ? "The request body must be a JSON object." : $"'{path}' must be a JSON object.", path.Length == 0 ? null : path);
        _prefix = path.Length == 0 ? "" : path + ".";
        foreach (var p in element.EnumerateObject()) _fields[p.Name] = p.Value;
    }

    public string PathOf(string name) => _prefix + name;

    /// <summary>The raw value, or null when absent or JSON null.</summary>
    public JsonElement? Raw(string name)
    {
        _read.Add(name);
        return _fields.TryGetValue(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;
    }

    public string? String(string name)
    {
        if (Raw(name) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.String) throw WrongType(name, "a string");
        return v.GetString();
    }

    public bool? Bool(string name)
    {
        if (Raw(name) is not { } v) return null;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw WrongType(name, "a boolean"),
        };
    }

    /// <summary>An integer in [min, max]; 2.0 counts as 2 (JSON has one number type), 2.5 does not.</summary>
    public long? Integer(string name, long min, long max)
    {
        if (Raw(name) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.Number) throw WrongType(name, "an integer");
        long value;
        if (!v.TryGetInt64(out value))
        {
            double d = v.GetDouble();
            if (d != Math.Floor(d) || double.IsInfinity(d)) throw WrongType(name, "an integer");
            if (d < min || d > max) throw OutOfRange(name, min, max, d.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
            value = (long)d;
        }
        if (value < min || value > max) throw OutOfRange(name, min, max, value.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return value;
    }

    public double? Number(string name, double min, double max)
    {
        if (Raw(name) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.Number) throw WrongType(name, "a number");
        double d = v.GetDouble();
        if (!(d >= min && d <= max))
            throw ApiException.BadRequest($"'{PathOf(name)}' must be between {min} and {max}, got {d.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}.", PathOf(name));
        return d;
    }

    /// <summary>A field this server knows but does not implement: accepted only at its neutral value.</summary>
    public void NeutralOnly(string name, Func<JsonElement, bool> isNeutral, string why)
    {
        if (Raw(name) is { } v && !isNeutral(v))
            throw ApiException.BadRequest($"'{PathOf(name)}' is not supported by this server: {why}.", PathOf(name));
    }

    /// <summary>Ends reading: any field not asked for is an error naming it.</summary>
    public void RejectUnknown()
    {
        foreach (var name in _fields.Keys)
            if (!_read.Contains(name))
                throw ApiException.BadRequest($"Unrecognized request argument supplied: {PathOf(name)}", PathOf(name));
    }

    public ApiException WrongType(string name, string expected) =>
        ApiException.BadRequest($"'{PathOf(name)}' must be {expected}.", PathOf(name));

    private ApiException OutOfRange(string name, long min, long max, string got) =>
        ApiException.BadRequest($"'{PathOf(name)}' must be an integer between {min} and {max}, got {got}.", PathOf(name));
}
