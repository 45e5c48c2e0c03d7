using System.Text.Json;
using LoraServe.Server.Protocol;
using LoraServe.Server.Serving;
using Microsoft.AspNetCore.Http;

namespace LoraServe.Server.Endpoints;

/// <summary>GET /v1/models: the base model and the adapters this caller may use, in vLLM's shape (root = weights' directory, parent = base for adapters).</summary>
internal static class ModelsEndpoint
{
    private const string OwnedBy = "loraserve";

    public static Task HandleAsync(HttpContext context, ServingContext serving) => ApiResults.RunAsync(context, serving, async () =>
    {
        var caller = ApiResults.Caller(context);
        var catalog = serving.Catalog;
        var cards = new List<ModelCard>();
        if (caller.MayUse(null)) cards.Add(new ModelCard(catalog.BaseName, "model", catalog.Created, OwnedBy, catalog.BasePath, null, catalog.MaxModelLen));
        foreach (var a in catalog.Adapters)
            if (caller.MayUse(a.Name)) cards.Add(new ModelCard(a.Name, "model", a.Created, OwnedBy, a.Path, catalog.BaseName, null));
        context.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(context.Response.Body, new ModelList("list", cards), ProtocolJson.Api.ModelList, context.RequestAborted).ConfigureAwait(false);
    });
}
