namespace LoraServe.Lora.Registry;

/// <summary>No adapter is registered under the name (the server answers 404).</summary>
public sealed class AdapterNotFoundException(string name) : Exception($"adapter '{name}' is not registered")
{
    public string AdapterName { get; } = name;
}

/// <summary>The host cache cannot make room: everything left in it is used by running requests.</summary>
public sealed class AdapterCacheFullException(string message) : Exception(message);
