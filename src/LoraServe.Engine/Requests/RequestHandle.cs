using System.Diagnostics;
using System.Threading.Channels;

namespace LoraServe.Engine.Requests;

/// <summary>
/// The caller's side of a submitted request: its token stream, a way to cancel, and the
/// timestamps a benchmark needs (Stopwatch ticks, written by the engine thread before the
/// matching event is published, so a reader that has seen the event sees the time).
/// </summary>
public sealed class RequestHandle
{
    private readonly Action<RequestHandle> _cancel;
    private long _firstTokenTicks, _finishTicks;

    internal RequestHandle(long id, Request request, ChannelReader<TokenEvent> tokens, Action<RequestHandle> cancel)
    {
        Id = id;
        Request = request;
        Tokens = tokens;
        _cancel = cancel;
        SubmittedTicks = Stopwatch.GetTimestamp();
    }

    public long Id { get; }
    public Request Request { get; }

    /// <summary>Every generated token in order, then one final event with the finish reason; completes after it.</summary>
    public ChannelReader<TokenEvent> Tokens { get; }

    public long SubmittedTicks { get; }
    public long FirstTokenTicks => Volatile.Read(ref _firstTokenTicks);
    public long FinishTicks => Volatile.Read(ref _finishTicks);

    /// <summary>Asks the engine to stop this request; its KV blocks are freed at the next step.</summary>
    public void Cancel() => _cancel(this);

    internal void MarkFirstToken(long ticks) => Volatile.Write(ref _firstTokenTicks, ticks);
    internal void MarkFinished(long ticks) => Volatile.Write(ref _finishTicks, ticks);
}
