using System.Text.Json;

namespace LoraServe.Server.Auth;

/// <summary>One tenant of the tenants file.</summary>
public sealed record TenantEntry(string Name, IReadOnlyList<string> ApiKeys, double Weight, IReadOnlySet<string>? Adapters, bool BaseModel);

/// <summary>
/// The --tenants file: API keys → tenant, the tenant's weighted-VTC weight and the models it may
/// use, plus the admin keys that alone may load and unload adapters. Read strictly: an unknown
/// field, a duplicate key or a bad weight stops start-up with a message naming the file and field.
/// <code>
/// { "admin_keys": ["sk-admin-…"],
///   "tenants": { "acme": { "api_keys": ["sk-acme-…"], "weight": 2, "adapters": ["sql", "chat"], "base_model": true },
///                "beta": { "api_keys": ["sk-beta-…"], "adapters": "*" } } }
/// </code>
/// </summary>
public sealed record TenantsFile(IReadOnlyList<string> AdminKeys, IReadOnlyList<TenantEntry> Tenants)
{
    public static TenantsFile Load(string path)
    {
        string json;
        try
        {
            json = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new FormatException($"{path}: cannot read the tenants file: {e.Message}", e);
        }
        return Parse(json, path);
    }

    public static TenantsFile Parse(string json, string source)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new FormatException($"{source}: invalid JSON: {e.Message}", e);
        }
        using (doc)
        {
            var root = Object(doc.RootElement, source, "the top level");
            Only(root, source, "", "admin_keys", "tenants");
            var adminKeys = root.TryGetProperty("admin_keys", out var ak) ? Keys(ak, source, "admin_keys") : [];
            if (!root.TryGetProperty("tenants", out var tenantsElement)) throw new FormatException($"{source}: 'tenants' is required");
            var tenants = new List<TenantEntry>();
            foreach (var t in Object(tenantsElement, source, "tenants").EnumerateObject())
            {
                string at = $"tenants.{t.Name}";
                if (t.Name.Length == 0) throw new FormatException($"{source}: tenant names must not be empty");
                var e = Object(t.Value, source, at);
                Only(e, source, at + ".", "api_keys", "weight", "adapters", "base_model");
                if (!e.TryGetProperty("api_keys", out var keys)) throw new FormatException($"{source}: '{at}.api_keys' is required");
                double weight = 1;
                if (e.TryGetProperty("weight", out var w))
                {
                    if (w.ValueKind != JsonValueKind.Number || !(w.GetDouble() > 0) || double.IsInfinity(w.GetDouble()))
                        throw new FormatException($"{source}: '{at}.weight' must be a positive number");
                    weight = w.GetDouble();
                }
                bool baseModel = true;
                if (e.TryGetProperty("base_model", out var b))
                {
                    if (b.ValueKind is not (JsonValueKind.True or JsonValueKind.False)) throw new FormatException($"{source}: '{at}.base_model' must be true or false");
                    baseModel = b.GetBoolean();
                }
                tenants.Add(new TenantEntry(t.Name, Keys(keys, source, at + ".api_keys"), weight, Adapters(e, source, at), baseModel));
            }
            var file = new TenantsFile(adminKeys, tenants);
            file.CheckUniqueKeys(source);
            return file;
        }
    }

    private void CheckUniqueKeys(string source)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var k in AdminKeys)
            if (!seen.Add(k)) throw new FormatException($"{source}: an admin key is listed twice");
        foreach (var t in Tenants)
            foreach (var k in t.ApiKeys)
                if (!seen.Add(k)) throw new FormatException($"{source}: an API key of tenant '{t.Name}' is also used elsewhere in the file; each key must name one caller");
    }

    /// <summary>"adapters": a list of names, or "*" for every adapter (also ones loaded later); absent = none.</summary>
    private static IReadOnlySet<string>? Adapters(JsonElement tenant, string source, string at)
    {
        if (!tenant.TryGetProperty("adapters", out var a)) return new HashSet<string>(StringComparer.Ordinal);
        if (a.ValueKind == JsonValueKind.String && a.GetString() == "*") return null;
        if (a.ValueKind != JsonValueKind.Array) throw new FormatException($"{source}: '{at}.adapters' must be a list of adapter names or \"*\"");
        var set = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in a.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String || item.GetString()!.Length == 0) throw new FormatException($"{source}: '{at}.adapters' must hold non-empty strings");
            set.Add(item.GetString()!);
        }
        return set;
    }

    private static List<string> Keys(JsonElement list, string source, string at)
    {
        if (list.ValueKind != JsonValueKind.Array) throw new FormatException($"{source}: '{at}' must be a list of strings");
        var keys = new List<string>();
        foreach (var item in list.EnumerateArray())
        {
            // A short key is guessable; 16 characters is the floor, not a recommendation.
            if (item.ValueKind != JsonValueKind.String || item.GetString()!.Length < 16) throw new FormatException($"{source}: every key in '{at}' must be a string of at least 16 characters");
            keys.Add(item.GetString()!);
        }
        return keys;
    }

    private static JsonElement Object(JsonElement e, string source, string at) =>
        e.ValueKind == JsonValueKind.Object ? e : throw new FormatException($"{source}: {at} must be a JSON object");

    private static void Only(JsonElement e, string source, string prefix, params string[] names)
    {
        foreach (var p in e.EnumerateObject())
            if (Array.IndexOf(names, p.Name) < 0) throw new FormatException($"{source}: unknown field '{prefix}{p.Name}' (expected: {string.Join(", ", names)})");
    }
}
