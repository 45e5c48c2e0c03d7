using LoraServe.Server.Endpoints;
using LoraServe.Server.Protocol;
using LoraServe.Server.Serving;
using Microsoft.AspNetCore.Http;

namespace LoraServe.Server.Auth;

/// <summary>
/// Guards /v1/*: answers 503 once shutdown has begun, and 401 unless the bearer key names a caller,
/// whom it hands to the endpoint. /health and /metrics stay open, as in vLLM.
/// </summary>
internal sealed class ApiKeyMiddleware(RequestDelegate next, ServingContext serving)
{
    public async Task InvokeAsync(HttpContext context)
    {
        if (!context.Request.Path.StartsWithSegments("/v1"))
        {
            await next(context).ConfigureAwait(false);
            return;
        }
        if (serving.Admission.ShuttingDown)
        {
            await ApiResults.WriteErrorAsync(context, serving, ApiException.ShuttingDown()).ConfigureAwait(false);
            return;
        }
        var caller = serving.Authenticator.Authenticate(context.Request.Headers.Authorization.ToString() is { Length: > 0 } h ? h : null);
        if (caller is null)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
            await ApiResults.WriteErrorAsync(context, serving, ApiException.Unauthorized()).ConfigureAwait(false);
            return;
        }
        context.Items[ApiResults.CallerKey] = caller;
        await next(context).ConfigureAwait(false);
    }
}
