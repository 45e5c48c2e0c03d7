using LoraServe.Engine.Requests;
using LoraServe.Server.Protocol;
using LoraServe.Server.Serving;
using LoraServe.Server.Streaming;
using Microsoft.AspNetCore.Http;

namespace LoraServe.Server.Endpoints;

/// <summary>POST /v1/completions: one prompt (text or token ids), streamed as SSE or answered whole.</summary>
internal static class CompletionsEndpoint
{
    /// <summary>OpenAI's (and vLLM's) default max_tokens for the legacy completions API.</summary>
    private const int DefaultMaxTokens = 16;

    public static Task HandleAsync(HttpContext context, ServingContext serving, long maxBodyBytes) => ApiResults.RunAsync(context, serving, async () =>
    {
        CompletionRequest request;
        using (var body = await ApiResults.ReadJsonAsync(context, maxBodyBytes).ConfigureAwait(false)) request = CompletionRequest.Parse(body.RootElement);
        var caller = ApiResults.Caller(context);
        var p = request.Parameters;
        string? adapter = serving.Catalog.Resolve(p.Model, caller);
        var prompt = request.PromptTokenIds ?? serving.Tokenizer.Encode(request.PromptText!, addSpecialTokens: true);
        int vocab = serving.Model.Config.VocabSize;
        for (int i = 0; i < prompt.Count; i++)
            if ((uint)prompt[i] >= (uint)vocab) throw ApiException.BadRequest($"Token id {prompt[i]} at position {i} is outside the vocabulary (0..{vocab - 1}).", "prompt");

        using var session = await GenerationSession.StartAsync(serving, caller, adapter, prompt, p, DefaultMaxTokens, "prompt", context.RequestAborted).ConfigureAwait(false);
        string id = "cmpl-" + Guid.NewGuid().ToString("N");
        long created = ApiResults.UnixNow();
        string model = p.Model ?? serving.Catalog.BaseName;
        var logprobs = p.TopLogprobs is null ? null : new LogprobsBuilder(serving.Tokenizer);

        if (p.Stream)
        {
            var sse = await ServerSentEvents.StartAsync(context).ConfigureAwait(false);
            await foreach (var u in session.ReadAllAsync().ConfigureAwait(false))
            {
                if (u.Finish == FinishReason.Error)
                {
                    await sse.WriteAsync(ErrorResponse.Create(500, "InternalServerError", u.Error ?? "the engine failed", null), ProtocolJson.Api.ErrorResponse).ConfigureAwait(false);
                    break;
                }
                CompletionLogprobs? lp = null;
                if (logprobs is not null && u.HasToken)
                {
                    var one = new LogprobsBuilder(serving.Tokenizer, logprobs.Offset);
                    one.Add(u);
                    logprobs.Add(u);
                    lp = one.ToCompletionLogprobs();
                }
                string? finish = GenerationSession.FinishReasonText(u.Finish);
                if (u.Text.Length == 0 && lp is null && finish is null) continue;
                var chunk = new CompletionResponse(id, "text_completion", created, model, [new CompletionChoice(0, u.Text, lp, finish)], null);
                await sse.WriteAsync(chunk, ProtocolJson.Api.CompletionResponse).ConfigureAwait(false);
            }
            if (p.IncludeUsage)
                await sse.WriteAsync(new CompletionResponse(id, "text_completion", created, model, [], session.Usage), ProtocolJson.Api.CompletionResponse).ConfigureAwait(false);
            await sse.WriteDoneAsync().ConfigureAwait(false);
            return;
        }

        await foreach (var u in session.ReadAllAsync().ConfigureAwait(false))
            if (u.HasToken) logprobs?.Add(u);
        ThrowIfFailed(session, serving);
        var response = new CompletionResponse(id, "text_completion", created, model,
            [new CompletionChoice(0, session.Text, logprobs?.ToCompletionLogprobs(), GenerationSession.FinishReasonText(session.Finish))], session.Usage);
        context.Response.ContentType = "application/json";
        await System.Text.Json.JsonSerializer.SerializeAsync(context.Response.Body, response, ProtocolJson.Api.CompletionResponse, context.RequestAborted).ConfigureAwait(false);
    });

    /// <summary>A whole (non-streamed) answer has no way to report a failure or an abort but its status.</summary>
    internal static void ThrowIfFailed(GenerationSession session, ServingContext serving)
    {
        if (session.Finish == FinishReason.Error) throw new ApiException(500, "InternalServerError", "The engine failed while generating this request.");
        if (session.Finish == FinishReason.Cancelled && serving.Admission.ShuttingDown) throw ApiException.ShuttingDown();
    }
}
