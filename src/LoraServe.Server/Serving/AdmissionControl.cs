using LoraServe.Server.Protocol;

namespace LoraServe.Server.Serving;

/// <summary>
/// Back-pressure at the door: at most --max-waiting requests may wait for their first token
/// (queued in the engine or in prefill) before new ones get a 429, and none are taken once
/// shutdown has begun (503). The engine's own queue is unbounded; this bound keeps a burst from
/// growing it — and everyone's latency — without limit.
/// </summary>
public sealed class AdmissionControl(int maxWaiting)
{
    private int _waiting;
    private int _inFlight;
    private volatile bool _shuttingDown;

    public int MaxWaiting { get; } = maxWaiting;
    public int Waiting => Volatile.Read(ref _waiting);
    public int InFlight => Volatile.Read(ref _inFlight);
    public bool ShuttingDown => _shuttingDown;

    public void BeginShutdown() => _shuttingDown = true;

    public void ThrowIfShuttingDown()
    {
        if (_shuttingDown) throw ApiException.ShuttingDown();
    }

    /// <summary>Takes a waiting slot or throws 429/503; the caller must call <see cref="LeaveWaiting"/> once, then <see cref="Finish"/> once.</summary>
    public void EnterWaiting()
    {
        ThrowIfShuttingDown();
        while (true)
        {
            int w = Volatile.Read(ref _waiting);
            if (w >= MaxWaiting) throw ApiException.QueueFull(MaxWaiting);
            if (Interlocked.CompareExchange(ref _waiting, w + 1, w) == w) break;
        }
        Interlocked.Increment(ref _inFlight);
    }

    public void LeaveWaiting() => Interlocked.Decrement(ref _waiting);

    public void Finish() => Interlocked.Decrement(ref _inFlight);
}
