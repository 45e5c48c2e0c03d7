using System.Text.Json;
using LoraServe.Lora.Registry;
using LoraServe.Models.Config;
using LoraServe.Server.Protocol;
using LoraServe.Server.Serving;
using Microsoft.AspNetCore.Http;

namespace LoraServe.Server.Endpoints;

/// <summary>
/// vLLM's runtime adapter API: POST /v1/load_lora_adapter and /v1/unload_lora_adapter, admin key
/// only. Success is vLLM's plain-text sentence; errors are its types (InvalidUserInput,
/// BadRequestError, NotFoundError) in the OpenAI error body. Unlike vLLM (#54839), unload really
/// drops the adapter from the engine's registry: its memory is freed now, or when the last
/// request using it ends.
/// </summary>
internal static class LoraAdapterEndpoints
{
    public static Task LoadAsync(HttpContext context, ServingContext serving, long maxBodyBytes) => ApiResults.RunAsync(context, serving, async () =>
    {
        RequireAdmin(context);
        LoadLoraAdapterRequest request;
        using (var body = await ApiResults.ReadJsonAsync(context, maxBodyBytes).ConfigureAwait(false)) request = LoadLoraAdapterRequest.Parse(body.RootElement);
        serving.Catalog.ValidateNewName(request.LoraName);
        await serving.AdminGate.WaitAsync(context.RequestAborted).ConfigureAwait(false);
        try
        {
            if (serving.Catalog.Contains(request.LoraName) || serving.Adapters.IsRegistered(request.LoraName))
                throw ApiException.InvalidUserInput($"The lora adapter '{request.LoraName}' has already been loaded.", "lora_name");
            string directory = serving.Paths.Resolve(request.LoraPath);
            // Reading and validating the adapter is disk and CPU work: off the request thread's synchronous path.
            await Task.Run(() => Register(serving, request.LoraName, directory, request.LoraPath)).ConfigureAwait(false);
            serving.Catalog.TryAdd(new ServedAdapter(request.LoraName, directory, ApiResults.UnixNow()));
        }
        finally
        {
            serving.AdminGate.Release();
        }
        await WriteTextAsync(context, $"Success: LoRA adapter '{request.LoraName}' added successfully.").ConfigureAwait(false);
    });

    public static Task UnloadAsync(HttpContext context, ServingContext serving, long maxBodyBytes) => ApiResults.RunAsync(context, serving, async () =>
    {
        RequireAdmin(context);
        UnloadLoraAdapterRequest request;
        using (var body = await ApiResults.ReadJsonAsync(context, maxBodyBytes).ConfigureAwait(false)) request = UnloadLoraAdapterRequest.Parse(body.RootElement);
        await serving.AdminGate.WaitAsync(context.RequestAborted).ConfigureAwait(false);
        try
        {
            if (!serving.Catalog.Contains(request.LoraName))
                throw ApiException.NotFound($"The lora adapter '{request.LoraName}' cannot be found.", "lora_name");
            // Out of the catalog first: new requests stop resolving it before the registry forgets it.
            serving.Catalog.Remove(request.LoraName);
            serving.Adapters.Unregister(request.LoraName);
        }
        finally
        {
            serving.AdminGate.Release();
        }
        await WriteTextAsync(context, $"Success: LoRA adapter '{request.LoraName}' removed successfully.").ConfigureAwait(false);
    });

    /// <summary>Registers and loads (validating format, base-model fit and rank); a failure leaves nothing registered.</summary>
    internal static void Register(ServingContext serving, string name, string directory, string shownPath)
    {
        try
        {
            serving.Adapters.RegisterAndLoad(name, directory);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw ApiException.NotFound($"No adapter found at '{shownPath}': {e.Message}", "lora_path");
        }
        catch (Exception e) when (e is ModelFormatException or ArgumentException or IOException or JsonException or AdapterCacheFullException or UnauthorizedAccessException)
        {
            throw ApiException.BadRequest($"Loading LoRA adapter '{name}' from '{shownPath}' failed: {e.Message}", "lora_path");
        }
    }

    private static void RequireAdmin(HttpContext context)
    {
        if (!ApiResults.Caller(context).IsAdmin) throw ApiException.Forbidden("This API key may not load or unload adapters; use an admin key.");
    }

    private static Task WriteTextAsync(HttpContext context, string text)
    {
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(text, context.RequestAborted);
    }
}
