using System.Text.Json;
using LoraServe.Server.Auth;
using LoraServe.Server.Protocol;
using LoraServe.Server.Serving;
using Microsoft.AspNetCore.Http;

namespace LoraServe.Server.Endpoints;

/// <summary>
/// What every API endpoint does around its own work: read the JSON body (400 malformed, 413 too
/// large), find the caller the auth middleware identified, and turn an <see cref="ApiException"/>
/// into OpenAI's error body — or, once a stream has begun, leave the stream to end itself.
/// </summary>
internal static class ApiResults
{
    public const string CallerKey = "loraserve.caller";

    public static CallerIdentity Caller(HttpContext context) =>
        context.Items[CallerKey] as CallerIdentity ?? throw new InvalidOperationException("the API key middleware did not run for this route");

    public static async Task<JsonDocument> ReadJsonAsync(HttpContext context, long maxBodyBytes)
    {
        try
        {
            return await JsonDocument.ParseAsync(context.Request.Body, default, context.RequestAborted).ConfigureAwait(false);
        }
        catch (JsonException e)
        {
            throw ApiException.BadRequest($"The request body is not valid JSON: {e.Message}");
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw ApiException.TooLarge(maxBodyBytes);
        }
    }

    public static async Task WriteErrorAsync(HttpContext context, ServingContext serving, ApiException error)
    {
        serving.Metrics.RecordError(error.Status);
        if (context.Response.HasStarted) return;
        context.Response.StatusCode = error.Status;
        context.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(context.Response.Body, error.ToResponse(), ProtocolJson.Api.ErrorResponse, context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>Runs an endpoint body, answering refusals in OpenAI's shape and ignoring a client that has gone away.</summary>
    public static async Task RunAsync(HttpContext context, ServingContext serving, Func<Task> body)
    {
        try
        {
            await body().ConfigureAwait(false);
        }
        catch (ApiException e)
        {
            await WriteErrorAsync(context, serving, e).ConfigureAwait(false);
        }
        catch (Exception e) when (context.RequestAborted.IsCancellationRequested && e is OperationCanceledException or IOException)
        {
            // The client disconnected: its request is cancelled (GenerationSession) and there is nobody to answer.
        }
    }

    public static long UnixNow() => DateTimeOffset.UtcNow.ToUnixTimeSeconds();
}
