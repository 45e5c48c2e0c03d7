using LoraServe.Engine.Requests;
using LoraServe.Models.Chat;
using LoraServe.Server.Protocol;
using LoraServe.Server.Serving;
using LoraServe.Server.Streaming;
using Microsoft.AspNetCore.Http;

namespace LoraServe.Server.Endpoints;

/// <summary>
/// POST /v1/chat/completions: render the messages with the model's chat template (ChatML when it
/// has none), tokenize without adding special tokens (the template writes them, as vLLM does),
/// then stream chunks or answer whole.
/// </summary>
internal static class ChatCompletionsEndpoint
{
    public static Task HandleAsync(HttpContext context, ServingContext serving, long maxBodyBytes) => ApiResults.RunAsync(context, serving, async () =>
    {
        ChatCompletionRequest request;
        using (var body = await ApiResults.ReadJsonAsync(context, maxBodyBytes).ConfigureAwait(false)) request = ChatCompletionRequest.Parse(body.RootElement);
        var caller = ApiResults.Caller(context);
        var p = request.Parameters;
        string? adapter = serving.Catalog.Resolve(p.Model, caller);
        var template = serving.ChatTemplate
            ?? throw ApiException.BadRequest($"This model's chat template cannot be used: {serving.ChatTemplateError}", "messages");
        string text;
        try
        {
            text = template.Render(request.Messages, request.AddGenerationPrompt);
        }
        catch (ChatTemplateException e)
        {
            throw ApiException.BadRequest(e.RaisedByTemplate ? e.Message : $"The chat template could not be rendered: {e.Message}", "messages");
        }
        var prompt = serving.Tokenizer.Encode(text, addSpecialTokens: false);
        // Without max_tokens a chat answer may use the rest of the context, as vLLM's default.
        int defaultMax = serving.Model.Config.MaxPositionEmbeddings;

        using var session = await GenerationSession.StartAsync(serving, caller, adapter, prompt, p, defaultMax, "messages", context.RequestAborted).ConfigureAwait(false);
        string id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        long created = ApiResults.UnixNow();
        string model = p.Model ?? serving.Catalog.BaseName;
        bool wantLogprobs = p.TopLogprobs is not null;

        if (p.Stream)
        {
            var sse = await ServerSentEvents.StartAsync(context).ConfigureAwait(false);
            await sse.WriteAsync(Chunk(id, created, model, new ChatDelta("assistant", ""), null, null), ProtocolJson.Api.ChatCompletionChunk).ConfigureAwait(false);
            await foreach (var u in session.ReadAllAsync().ConfigureAwait(false))
            {
                if (u.Finish == FinishReason.Error)
                {
                    await sse.WriteAsync(ErrorResponse.Create(500, "InternalServerError", u.Error ?? "the engine failed", null), ProtocolJson.Api.ErrorResponse).ConfigureAwait(false);
                    break;
                }
                ChatLogprobs? lp = null;
                if (wantLogprobs && u.HasToken)
                {
                    var one = new LogprobsBuilder(serving.Tokenizer);
                    one.Add(u);
                    lp = one.ToChatLogprobs();
                }
                if (u.Text.Length > 0 || lp is not null)
                    await sse.WriteAsync(Chunk(id, created, model, new ChatDelta(null, u.Text), lp, null), ProtocolJson.Api.ChatCompletionChunk).ConfigureAwait(false);
                if (GenerationSession.FinishReasonText(u.Finish) is { } finish)
                    await sse.WriteAsync(Chunk(id, created, model, new ChatDelta(null, null), null, finish), ProtocolJson.Api.ChatCompletionChunk).ConfigureAwait(false);
            }
            if (p.IncludeUsage)
                await sse.WriteAsync(new ChatCompletionChunk(id, "chat.completion.chunk", created, model, [], session.Usage), ProtocolJson.Api.ChatCompletionChunk).ConfigureAwait(false);
            await sse.WriteDoneAsync().ConfigureAwait(false);
            return;
        }

        var logprobs = wantLogprobs ? new LogprobsBuilder(serving.Tokenizer) : null;
        await foreach (var u in session.ReadAllAsync().ConfigureAwait(false))
            if (u.HasToken) logprobs?.Add(u);
        CompletionsEndpoint.ThrowIfFailed(session, serving);
        var response = new ChatCompletionResponse(id, "chat.completion", created, model,
            [new ChatChoice(0, new ChatResponseMessage("assistant", session.Text), logprobs?.ToChatLogprobs(), GenerationSession.FinishReasonText(session.Finish))], session.Usage);
        context.Response.ContentType = "application/json";
        await System.Text.Json.JsonSerializer.SerializeAsync(context.Response.Body, response, ProtocolJson.Api.ChatCompletionResponse, context.RequestAborted).ConfigureAwait(false);
    });

    private static ChatCompletionChunk Chunk(string id, long created, string model, ChatDelta delta, ChatLogprobs? logprobs, string? finish) =>
        new(id, "chat.completion.chunk", created, model, [new ChatChunkChoice(0, delta, logprobs, finish)], null);
}
