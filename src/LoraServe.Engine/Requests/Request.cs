namespace LoraServe.Engine.Requests;

/// <summary>
/// What a client asks the engine for: a tokenized prompt, the tenant to bill (the fairness
/// policies share the server between tenants, DESIGN §5.1), the LoRA adapter (null = the base
/// model) and the generation settings. Immutable; the engine keeps its own running state.
/// </summary>
public sealed record Request
{
    public required string Tenant { get; init; }

    public required IReadOnlyList<int> PromptTokens { get; init; }

    /// <summary>Registered adapter name, or null for the base model.</summary>
    public string? Adapter { get; init; }

    public RequestOptions Options { get; init; } = new();

    /// <summary>Caller's id for logs and bench records; the engine assigns its own numeric id too.</summary>
    public string? ExternalId { get; init; }
}
