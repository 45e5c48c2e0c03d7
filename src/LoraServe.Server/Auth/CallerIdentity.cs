namespace LoraServe.Server.Auth;

/// <summary>
/// Who sent a request, as its API key says: the tenant the engine bills (fairness, DESIGN §5.1),
/// which models it may use, and whether it may load and unload adapters.
/// </summary>
public sealed record CallerIdentity(string Tenant, bool MayUseBaseModel, IReadOnlySet<string>? AllowedAdapters, bool IsAdmin)
{
    /// <summary>Tenant of every request when no tenants file is given (see docs/server.md).</summary>
    public const string DefaultTenant = "default";

    /// <summary>An open server (no keys) or vLLM's single --api-key: one tenant, every model, and the adapter admin API.</summary>
    public static CallerIdentity Default { get; } = new(DefaultTenant, true, null, true);

    /// <summary>True if this caller may use <paramref name="adapter"/> (null = the base model).</summary>
    public bool MayUse(string? adapter) => adapter is null ? MayUseBaseModel : AllowedAdapters is null || AllowedAdapters.Contains(adapter);
}
