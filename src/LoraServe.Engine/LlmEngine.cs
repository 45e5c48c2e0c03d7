using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using LoraServe.Engine.Requests;
using LoraServe.Lora.Registry;
using LoraServe.Models.Llama;
using LoraServe.Models.Tokenization;

namespace LoraServe.Engine;

/// <summary>
/// The serving engine: an <see cref="EngineCore"/> stepped by one dedicated thread (the compute
/// loop never runs on the thread pool, STYLE "async all the way for I/O; the compute loop on its
/// own thread"), fed through a lock-free inbox and answering through one channel per request.
/// Submission validates the request and pins its adapter on the caller's thread, so a bad request
/// or an unknown adapter fails the caller, not the loop. Cancellation is applied at the start of
/// the next iteration. <see cref="StopAsync"/> either drains in-flight work or cancels it.
/// </summary>
public sealed class LlmEngine : IAsyncDisposable, IDisposable
{
    private readonly EngineCore _core;
    private readonly AdapterRegistry? _adapters;
    private readonly ConcurrentQueue<(PendingRequest? Add, long Cancel)> _inbox = new();
    private readonly SemaphoreSlim _wake = new(0, int.MaxValue);
    private readonly Thread _thread;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly object _statsGate = new();
    private EngineStatistics _stats;
    private long _nextId;
    private long _lastPublish;
    private volatile int _stopMode; // 0 running, 1 drain, 2 cancel
    private volatile bool _accepting = true;

    private sealed record PendingRequest(Request Request, int MaxOutput, ChannelWriter<TokenEvent> Writer, RequestHandle Handle, AdapterLease? Lease);

    public LlmEngine(LlamaModel model, EngineOptions options, AdapterRegistry? adapters = null, HfTokenizer? tokenizer = null)
    {
        _core = new EngineCore(model, options, tokenizer);
        _adapters = adapters;
        Options = options;
        _stats = _core.Snapshot();
        _thread = new Thread(Loop) { IsBackground = true, Name = "LoraServe engine loop" };
        _thread.Start();
    }

    public EngineOptions Options { get; }

    /// <summary>Latest statistics, published by the engine thread after every iteration.</summary>
    public EngineStatistics Statistics
    {
        get { lock (_statsGate) return _stats; }
    }

    /// <summary>The engine thread's core; tests read its block manager after the engine stopped.</summary>
    internal EngineCore Core => _core;

    /// <summary>
    /// Queues <paramref name="request"/> and returns its handle. Throws ArgumentException for an invalid
    /// request, <see cref="AdapterNotFoundException"/> for an unknown adapter, InvalidOperationException after stop.
    /// </summary>
    public RequestHandle Submit(Request request)
    {
        if (!_accepting) throw new InvalidOperationException("the engine is stopping and accepts no new requests");
        int maxOutput = _core.Validate(request);
        AdapterLease? lease = null;
        if (request.Adapter is { } name)
        {
            if (_adapters is null) throw new AdapterNotFoundException(name);
            lease = _adapters.Acquire(name);
        }
        var channel = Channel.CreateUnbounded<TokenEvent>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var handle = new RequestHandle(Interlocked.Increment(ref _nextId), request, channel.Reader, Cancel);
        _inbox.Enqueue((new PendingRequest(request, maxOutput, channel.Writer, handle, lease), 0));
        _wake.Release();
        // Lost a race with stop after the loop's last look at the inbox: nobody will serve it.
        if (!_accepting && _thread.Join(0)) CancelPending();
        return handle;
    }

    /// <summary>Async form of <see cref="Submit"/> for callers that treat submission as I/O.</summary>
    public Task<RequestHandle> SubmitAsync(Request request, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var handle = Submit(request);
        if (cancellationToken.CanBeCanceled)
        {
            var registration = cancellationToken.Register(handle.Cancel);
            handle.Tokens.Completion.ContinueWith(_ => registration.Dispose(), TaskScheduler.Default);
        }
        return Task.FromResult(handle);
    }

    /// <summary>Submits and streams the request's events; cancelling the token cancels the request.</summary>
    public async IAsyncEnumerable<TokenEvent> Generate(Request request, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var handle = Submit(request);
        using var registration = cancellationToken.Register(handle.Cancel);
        bool ended = false;
        try
        {
            // Read without the token: after cancelling, the engine still sends the final Cancelled event.
            await foreach (var e in handle.Tokens.ReadAllAsync(CancellationToken.None))
            {
                ended = e.Finish != FinishReason.None;
                yield return e;
            }
        }
        finally
        {
            // The consumer stopped enumerating early: nobody wants the rest, so free its KV now.
            if (!ended) handle.Cancel();
        }
    }

    private void Cancel(RequestHandle handle)
    {
        // After the loop exited there is nothing to cancel (every request already ended).
        if (_stopped.Task.IsCompleted) return;
        _inbox.Enqueue((null, handle.Id));
        _wake.Release();
    }

    /// <summary>
    /// Stops accepting requests; with <paramref name="drain"/> finishes everything in flight first,
    /// otherwise cancels it. Completes when the engine thread has exited and all KV blocks are free.
    /// </summary>
    public Task StopAsync(bool drain = true)
    {
        _accepting = false;
        int mode = drain ? 1 : 2;
        if (_stopMode < mode) _stopMode = mode;
        _wake.Release();
        return _stopped.Task;
    }

    private void Loop()
    {
        try
        {
            while (true)
            {
                DrainInbox();
                int mode = _stopMode;
                if (mode == 2 || (mode == 1 && !_core.HasWork && _inbox.IsEmpty))
                {
                    DrainInbox();
                    _core.EndAll(FinishReason.Cancelled, null);
                    break;
                }
                bool worked = _core.HasWork && _core.Step();
                bool idle = !worked && !_core.HasWork;
                Publish(force: idle);
                if (idle) _wake.Wait();
            }
        }
        catch (Exception e)
        {
            // A bug in the loop itself: fail every request rather than leave callers waiting forever.
            _core.EndAll(FinishReason.Error, $"engine loop failed: {e.GetType().Name}: {e.Message}");
            _stopped.TrySetException(e);
        }
        finally
        {
            _accepting = false;
            CancelPending();
            Publish(force: true);
            _stopped.TrySetResult();
        }
    }

    private void CancelPending()
    {
        while (_inbox.TryDequeue(out var item))
        {
            if (item.Add is not { } p) continue;
            p.Lease?.Dispose();
            p.Writer.TryWrite(TokenEvent.Ended(FinishReason.Cancelled, 0));
            p.Writer.TryComplete();
        }
    }

    private void DrainInbox()
    {
        while (_inbox.TryDequeue(out var item))
        {
            if (item.Add is { } p) _core.Add(p.Request, p.MaxOutput, p.Writer, p.Handle, p.Lease);
            else _core.Cancel(item.Cancel);
        }
    }

    // A snapshot allocates, so the loop publishes at most every 20 ms while busy (and whenever it goes idle).
    private void Publish(bool force = false)
    {
        long now = System.Diagnostics.Stopwatch.GetTimestamp();
        if (!force && System.Diagnostics.Stopwatch.GetElapsedTime(_lastPublish, now).TotalMilliseconds < 20) return;
        _lastPublish = now;
        var s = _core.Snapshot();
        lock (_statsGate) _stats = s;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(drain: false).ConfigureAwait(false);
        // The semaphore is not disposed: late Cancel/Submit calls may still touch it (it holds no wait handle).
        _core.Dispose();
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();
}
