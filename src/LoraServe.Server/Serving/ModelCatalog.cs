using System.Collections.Concurrent;
using LoraServe.Server.Auth;
using LoraServe.Server.Protocol;

namespace LoraServe.Server.Serving;

/// <summary>An adapter the server serves: its name, the directory it was loaded from, and when (for /v1/models).</summary>
public sealed record ServedAdapter(string Name, string Path, long Created);

/// <summary>
/// The names clients may put in <c>model</c>: the base model's served name (also "" as LoRAX
/// spells the base), each adapter's name, and SGLang's <c>base:adapter</c>. Resolution also applies
/// the caller's permissions, and unknown and forbidden names fail alike (404), so a tenant cannot
/// learn which adapters other tenants have.
/// </summary>
public sealed class ModelCatalog(string baseName, string basePath, int maxModelLen)
{
    private readonly ConcurrentDictionary<string, ServedAdapter> _adapters = new(StringComparer.Ordinal);

    public string BaseName { get; } = baseName;
    public string BasePath { get; } = basePath;
    public int MaxModelLen { get; } = maxModelLen;
    public long Created { get; } = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    public IEnumerable<ServedAdapter> Adapters => _adapters.Values.OrderBy(a => a.Created).ThenBy(a => a.Name, StringComparer.Ordinal);

    public bool Contains(string adapter) => _adapters.ContainsKey(adapter);

    /// <summary>Checks a new adapter name: not empty, no ':' (that separates base and adapter), not the base's name.</summary>
    public void ValidateNewName(string name)
    {
        if (name.Length == 0 || name.Contains(':') || name.Any(char.IsControl) || name == BaseName)
            throw ApiException.InvalidUserInput($"Invalid lora_name '{name}': it must be non-empty, contain no ':' or control characters, and differ from the base model's name.", "lora_name");
    }

    public bool TryAdd(ServedAdapter adapter) => _adapters.TryAdd(adapter.Name, adapter);

    public bool Remove(string name) => _adapters.TryRemove(name, out _);

    /// <summary>The adapter a request's <c>model</c> names (null: the base model), or a 404 if it is unknown or not the caller's.</summary>
    public string? Resolve(string? model, CallerIdentity caller)
    {
        string? adapter = model switch
        {
            null or "" => null,
            _ when model == BaseName => null,
            _ when model.StartsWith(BaseName + ":", StringComparison.Ordinal) => model[(BaseName.Length + 1)..],
            _ => model,
        };
        if (adapter is not null && !_adapters.ContainsKey(adapter)) throw ApiException.ModelNotFound(model!);
        if (!caller.MayUse(adapter)) throw ApiException.ModelNotFound(model ?? BaseName);
        return adapter;
    }
}
