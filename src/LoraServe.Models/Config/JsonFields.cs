using System.Text.Json;

namespace LoraServe.Models.Config;

/// <summary>
/// Typed, validated access to the fields of one JSON object in a model file. Every failure is a
/// <see cref="ModelFormatException"/> naming the file and the field (dotted for nested objects),
/// so a bad config never surfaces as an InvalidOperationException from System.Text.Json.
/// JSON null counts as absent, as it does for transformers' config classes.
/// </summary>
internal sealed class JsonFields
{
    private readonly string _path;
    private readonly JsonElement _obj;
    private readonly string _prefix;

    public JsonFields(string path, JsonElement obj, string prefix = "")
    {
        _path = path;
        _obj = obj;
        _prefix = prefix;
    }

    public ModelFormatException Error(string field, string problem) =>
        new(_path, $"field '{_prefix}{field}' {problem}");

    private JsonElement? Get(string field) =>
        _obj.TryGetProperty(field, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    public string RequiredString(string field) =>
        OptionalString(field) ?? throw Error(field, "is missing");

    public string? OptionalString(string field)
    {
        if (Get(field) is not JsonElement v) return null;
        if (v.ValueKind != JsonValueKind.String) throw Error(field, $"must be a string, found {Describe(v)}");
        return v.GetString()!;
    }

    public bool? OptionalBool(string field)
    {
        if (Get(field) is not JsonElement v) return null;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Error(field, $"must be true or false, found {Describe(v)}"),
        };
    }

    public int RequiredPositiveInt(string field) =>
        OptionalPositiveInt(field) ?? throw Error(field, "is missing");

    public int? OptionalPositiveInt(string field)
    {
        int? value = OptionalInt(field);
        if (value <= 0) throw Error(field, $"must be a positive integer, found {value}");
        return value;
    }

    public int? OptionalNonNegativeInt(string field)
    {
        int? value = OptionalInt(field);
        if (value < 0) throw Error(field, $"must be a non-negative integer, found {value}");
        return value;
    }

    private int? OptionalInt(string field)
    {
        if (Get(field) is not JsonElement v) return null;
        return AsInt(field, v);
    }

    private int AsInt(string field, JsonElement v)
    {
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int value))
            throw Error(field, $"must be an integer, found {Describe(v)}");
        return value;
    }

    public double RequiredPositiveDouble(string field) =>
        OptionalPositiveDouble(field) ?? throw Error(field, "is missing");

    public double? OptionalPositiveDouble(string field)
    {
        if (Get(field) is not JsonElement v) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double value) || !double.IsFinite(value))
            throw Error(field, $"must be a number, found {Describe(v)}");
        if (value <= 0) throw Error(field, $"must be positive, found {value}");
        return value;
    }

    public JsonFields? OptionalObject(string field)
    {
        if (Get(field) is not JsonElement v) return null;
        if (v.ValueKind != JsonValueKind.Object) throw Error(field, $"must be an object or null, found {Describe(v)}");
        return new JsonFields(_path, v, $"{_prefix}{field}.");
    }

    /// <summary>A token id: a non-negative integer.</summary>
    public int? OptionalTokenId(string field)
    {
        int? id = OptionalInt(field);
        if (id < 0) throw Error(field, $"must be a non-negative token id, found {id}");
        return id;
    }

    /// <summary>eos_token_id is an int in most configs and a list in Llama 3 ([128001, 128008, 128009]).</summary>
    public IReadOnlyList<int>? OptionalTokenIds(string field)
    {
        if (Get(field) is not JsonElement v) return null;
        if (v.ValueKind == JsonValueKind.Number)
        {
            int id = AsInt(field, v);
            if (id < 0) throw Error(field, $"must be a non-negative token id, found {id}");
            return [id];
        }
        if (v.ValueKind != JsonValueKind.Array) throw Error(field, $"must be an integer or a list of integers, found {Describe(v)}");
        var ids = new List<int>(v.GetArrayLength());
        foreach (var item in v.EnumerateArray())
        {
            int id = AsInt(field, item);
            if (id < 0) throw Error(field, $"must hold non-negative token ids, found {id}");
            ids.Add(id);
        }
        return ids;
    }

    private static string Describe(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.String => $"\"{v.GetString()}\"",
        JsonValueKind.Number => v.GetRawText(),
        JsonValueKind.True or JsonValueKind.False => v.GetRawText(),
        _ => v.ValueKind.ToString().ToLowerInvariant(),
    };
}
