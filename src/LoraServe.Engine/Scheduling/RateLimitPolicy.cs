using LoraServe.Engine.Requests;

namespace LoraServe.Engine.Scheduling;

/// <summary>
/// The request-per-minute baseline (VTC paper §5, "RPM"; artifact lshare_fair): a tenant that
/// already had <see cref="FairnessOptions.RequestsPerMinute"/> requests accepted in the last 60 s
/// has the new one rejected at arrival; accepted requests are served FCFS. It isolates tenants
/// but is not work-conserving — the server idles while rejected work could have run.
/// </summary>
public sealed class RateLimitPolicy(FairnessOptions options) : FcfsPolicy
{
    private const double WindowSeconds = 60.0;
    private readonly Dictionary<string, Queue<double>> _accepted = new(StringComparer.Ordinal);

    public override string Name => FairnessPolicies.RateLimit;

    public override bool OnArrival(Sequence sequence, double now)
    {
        if (!_accepted.TryGetValue(sequence.Tenant, out var times)) _accepted[sequence.Tenant] = times = new Queue<double>();
        while (times.Count > 0 && times.Peek() <= now - WindowSeconds) times.Dequeue();
        if (times.Count >= options.RequestsPerMinute) return false;
        times.Enqueue(now);
        return base.OnArrival(sequence, now);
    }
}
