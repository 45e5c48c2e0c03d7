using System.Text.Json.Serialization;

namespace LoraServe.Server.Protocol;

/// <summary>GET /v1/models (object "list"), with vLLM's <c>root</c> (where the weights come from) and <c>parent</c> (an adapter's base model).</summary>
public sealed record ModelList(string Object, IReadOnlyList<ModelCard> Data);

public sealed record ModelCard(
    string Id,
    string Object,
    long Created,
    string OwnedBy,
    string Root,
    string? Parent,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? MaxModelLen);
