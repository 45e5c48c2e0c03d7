using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using LoraServe.Server.Protocol;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace LoraServe.Server.Streaming;

/// <summary>
/// The OpenAI streaming framing: <c>text/event-stream</c>, each event one <c>data: {json}\n\n</c>
/// line pair written and flushed at once (no response buffering, so a token reaches the client
/// when it is generated), and a final <c>data: [DONE]\n\n</c>.
/// </summary>
internal sealed class ServerSentEvents
{
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();
    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();

    private readonly HttpResponse _response;
    private readonly CancellationToken _aborted;

    private ServerSentEvents(HttpResponse response, CancellationToken aborted)
    {
        _response = response;
        _aborted = aborted;
    }

    public static async Task<ServerSentEvents> StartAsync(HttpContext context)
    {
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        // Tells reverse proxies such as nginx not to buffer the stream either.
        response.Headers["X-Accel-Buffering"] = "no";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        await response.StartAsync(context.RequestAborted).ConfigureAwait(false);
        return new ServerSentEvents(response, context.RequestAborted);
    }

    public async Task WriteAsync<T>(T value, JsonTypeInfo<T> type)
    {
        var body = _response.BodyWriter;
        body.Write(DataPrefix);
        using (var json = new Utf8JsonWriter(body, new JsonWriterOptions { Encoder = ProtocolJson.Encoder })) JsonSerializer.Serialize(json, value, type);
        body.Write(EventEnd);
        await body.FlushAsync(_aborted).ConfigureAwait(false);
    }

    public async Task WriteDoneAsync()
    {
        await _response.BodyWriter.WriteAsync(Done, _aborted).ConfigureAwait(false);
    }
}
