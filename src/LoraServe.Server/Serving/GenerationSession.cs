using System.Diagnostics;
using LoraServe.Engine.Requests;
using LoraServe.Lora.Registry;
using LoraServe.Models.Config;
using LoraServe.Server.Auth;
using LoraServe.Server.Protocol;

namespace LoraServe.Server.Serving;

/// <summary>
/// One request in the engine, from submission to its last event. <see cref="StartAsync"/> submits
/// and waits for the first event, so every refusal (bad request, unknown adapter, queue full, rate
/// limit, shutdown) is still an HTTP status, before a streamed response has sent its headers.
/// Cancelling the token (the client went away) cancels the request, whose KV blocks the engine
/// frees at its next step. Dispose exactly once: it records metrics and frees the admission slot.
/// </summary>
internal sealed class GenerationSession : IDisposable
{
    private readonly ServingContext _ctx;
    private readonly RequestHandle _handle;
    private readonly CancellationTokenRegistration _cancel;
    private readonly OutputTextAssembler _text;
    private readonly string _adapterLabel;
    private readonly long _startTicks = Stopwatch.GetTimestamp();
    private TokenEvent? _first;
    private bool _waiting = true;
    private int _disposed;

    private GenerationSession(ServingContext ctx, RequestHandle handle, GenerationParameters p, CancellationToken cancellation)
    {
        _ctx = ctx;
        _handle = handle;
        _text = new OutputTextAssembler(ctx.Tokenizer, p.Stop);
        _adapterLabel = handle.Request.Adapter ?? "";
        PromptTokens = handle.Request.PromptTokens.Count;
        _cancel = cancellation.Register(static h => ((RequestHandle)h!).Cancel(), handle);
    }

    public int PromptTokens { get; }
    public int CompletionTokens { get; private set; }
    public FinishReason Finish { get; private set; }

    /// <summary>OpenAI's finish_reason; "abort" (vLLM's) for a request cancelled by shutdown or disconnect.</summary>
    public static string? FinishReasonText(FinishReason f) => f switch
    {
        FinishReason.None => null,
        FinishReason.EndOfSequence or FinishReason.StopString => "stop",
        FinishReason.Length => "length",
        FinishReason.Error => "error",
        _ => "abort",
    };

    /// <summary>Validates the prompt against the context, submits, and waits for the first event; throws <see cref="ApiException"/> for every refusal.</summary>
    public static async Task<GenerationSession> StartAsync(ServingContext ctx, CallerIdentity caller, string? adapter, IReadOnlyList<int> prompt,
        GenerationParameters p, int defaultMaxTokens, string promptField, CancellationToken cancellation)
    {
        int context = ctx.Model.Config.MaxPositionEmbeddings;
        if (prompt.Count == 0) throw ApiException.BadRequest("The prompt is empty.", promptField);
        if (prompt.Count >= context)
            throw ApiException.BadRequest($"This model's maximum context length is {context} tokens. However, your request has {prompt.Count} input tokens. Please reduce the length of the input.", promptField);
        if (p.MaxTokens is { } max && (long)prompt.Count + max > context)
            throw ApiException.BadRequest(
                $"This model's maximum context length is {context} tokens. However, you requested {(long)prompt.Count + max} tokens ({prompt.Count} in the input, {max} in the completion). Please reduce the length of the input or completion.",
                p.MaxTokensField);
        var request = new Request
        {
            Tenant = caller.Tenant,
            PromptTokens = prompt,
            Adapter = adapter,
            ExternalId = p.User,
            Options = new RequestOptions
            {
                MaxTokens = p.MaxTokens ?? Math.Min(defaultMaxTokens, context - prompt.Count),
                Sampling = new(p.Temperature, p.TopP, p.TopK, p.Seed),
                StopStrings = p.Stop,
                StopTokenIds = p.StopTokenIds,
                IgnoreEos = p.IgnoreEos,
                TopLogprobs = p.TopLogprobs ?? 0,
            },
        };

        ctx.Admission.EnterWaiting();
        RequestHandle handle;
        try
        {
            handle = ctx.Engine.Submit(request);
        }
        catch (Exception e)
        {
            ctx.Admission.LeaveWaiting();
            ctx.Admission.Finish();
            throw e switch
            {
                AdapterNotFoundException => ApiException.ModelNotFound(p.Model ?? adapter ?? ""),
                AdapterCacheFullException => new ApiException(429, "RateLimitError", e.Message),
                ArgumentException => ApiException.BadRequest(e.Message),
                InvalidOperationException => ApiException.ShuttingDown(),
                ModelFormatException or IOException => new ApiException(500, "InternalServerError", $"The adapter '{adapter}' could not be loaded: {e.Message}", "model"),
                _ => e,
            };
        }

        var session = new GenerationSession(ctx, handle, p, cancellation);
        ctx.Metrics.AdapterEntered(session._adapterLabel);
        try
        {
            await session.ReadFirstAsync().ConfigureAwait(false);
        }
        catch
        {
            session.Dispose();
            throw;
        }
        return session;
    }

    private async Task ReadFirstAsync()
    {
        var reader = _handle.Tokens;
        TokenEvent e;
        while (!reader.TryRead(out e))
        {
            if (!await reader.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
                throw new InvalidOperationException("the engine closed a request's stream without a final event");
        }
        Started();
        _first = e;
        if (e.HasToken) return;
        Finish = e.Finish;
        switch (e.Finish)
        {
            case FinishReason.Rejected:
                throw new ApiException(429, "RateLimitError", "The scheduling policy's request rate limit refused this request; retry later.");
            case FinishReason.Error:
                throw new ApiException(500, "InternalServerError", e.Error ?? "the engine failed");
            case FinishReason.Cancelled when _ctx.Admission.ShuttingDown:
                throw ApiException.ShuttingDown();
        }
    }

    /// <summary>The request's updates in order, the first one (already read) included; the last has Finish set.</summary>
    public async IAsyncEnumerable<GenerationUpdate> ReadAllAsync()
    {
        if (_first is { } first)
        {
            _first = null;
            yield return Convert(first);
            if (first.Finish != FinishReason.None) yield break;
        }
        await foreach (var e in _handle.Tokens.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
        {
            yield return Convert(e);
            if (e.Finish != FinishReason.None) yield break;
        }
    }

    private GenerationUpdate Convert(TokenEvent e)
    {
        if (e.HasToken) CompletionTokens++;
        string text;
        if (e.Finish == FinishReason.None) text = e.HasToken ? _text.Push(e.TokenId) : "";
        else
        {
            Finish = e.Finish;
            text = _text.Finish(e.HasToken ? e.TokenId : null, e.Finish == FinishReason.StopString);
        }
        return new GenerationUpdate(text, e.TokenId, e.LogProb, e.TopLogprobs, e.Finish, e.Error);
    }

    /// <summary>The text sent so far (all of it once the last update was read).</summary>
    public string Text => _text.Text;

    public Usage Usage => new(PromptTokens, CompletionTokens);

    private void Started()
    {
        if (!_waiting) return;
        _waiting = false;
        _ctx.Admission.LeaveWaiting();
        _ctx.Metrics.AdapterStarted(_adapterLabel);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _cancel.Dispose();
        // A session abandoned before its end (client gone, write failed) must not keep running in the engine.
        if (Finish == FinishReason.None) _handle.Cancel();
        bool started = !_waiting;
        if (_waiting)
        {
            _waiting = false;
            _ctx.Admission.LeaveWaiting();
        }
        _ctx.Admission.Finish();
        _ctx.Metrics.AdapterLeft(_adapterLabel, started);
        long first = _handle.FirstTokenTicks;
        double ttft = first == 0 ? double.NaN : Stopwatch.GetElapsedTime(_startTicks, first).TotalSeconds;
        double e2e = Stopwatch.GetElapsedTime(_startTicks).TotalSeconds;
        _ctx.Metrics.RecordFinished(_handle.Request.Tenant, _adapterLabel, FinishReasonText(Finish) ?? "abort", ttft, e2e, CompletionTokens);
    }
}
