using LoraServe.Server.Metrics;
using LoraServe.Server.Serving;
using Microsoft.AspNetCore.Http;

namespace LoraServe.Server.Endpoints;

/// <summary>GET /metrics: Prometheus text, open like vLLM's (bind to a private address or put a proxy in front to restrict it).</summary>
internal static class MetricsEndpoint
{
    public static Task HandleAsync(HttpContext context, ServingContext serving)
    {
        context.Response.ContentType = PrometheusTextWriter.ContentType;
        return context.Response.WriteAsync(MetricsExporter.Render(serving), context.RequestAborted);
    }
}
