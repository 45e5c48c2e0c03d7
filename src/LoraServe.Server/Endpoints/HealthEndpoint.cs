using LoraServe.Server.Protocol;
using LoraServe.Server.Serving;
using Microsoft.AspNetCore.Http;

namespace LoraServe.Server.Endpoints;

/// <summary>GET /health: 200 with an empty body while serving (as vLLM), 503 once shutdown has begun so load balancers stop sending.</summary>
internal static class HealthEndpoint
{
    public static Task HandleAsync(HttpContext context, ServingContext serving)
    {
        if (serving.Admission.ShuttingDown) return ApiResults.WriteErrorAsync(context, serving, ApiException.ShuttingDown());
        context.Response.StatusCode = StatusCodes.Status200OK;
        return Task.CompletedTask;
    }
}
