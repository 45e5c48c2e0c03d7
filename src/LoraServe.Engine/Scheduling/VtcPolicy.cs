using LoraServe.Engine.Requests;

namespace LoraServe.Engine.Scheduling;

/// <summary>
/// Virtual Token Counter (Sheng et al., OSDI '24, Alg. 2; DESIGN §5.1). Each tenant has a counter
/// of the weighted service it received (w_p per input token, w_q per output token, divided by the
/// tenant's weight — weighted VTC, §4.3) and a FIFO queue. Admission always takes the oldest
/// request of the waiting tenant with the smallest counter. Decisions this class makes where the
/// paper is silent (docs/engine.md):
/// <list type="bullet">
/// <item>Counter lift happens only on a genuine arrival into an empty queue, not when a preempted
/// request returns to its queue (the tenant was being served; lifting would bill it for the
/// engine's preemption).</item>
/// <item>Input is charged once, at the first admission; re-admitting after a preemption recomputes
/// KV but is engine overhead, not service to the tenant.</item>
/// <item>Every generated token is charged once, the first one (produced by the prefill step)
/// included, so a finished request has cost exactly w_p·input + w_q·output (the artifact skips the
/// first and double-charges on finishing steps; vtc.md §5.3).</item>
/// <item>"Left the queue last" (the empty-queue lift) is recorded at admission, not at
/// cancellation: a cancelled request received no service.</item>
/// <item>Ties between equal counters go to the tenant seen first.</item>
/// </list>
/// </summary>
public class VtcPolicy : IFairnessPolicy
{
    private readonly FairnessOptions _options;
    private readonly Dictionary<string, TenantState> _byName = new(StringComparer.Ordinal);
    private readonly List<TenantState> _tenants = [];
    private TenantState? _lastLeft;
    private int _waiting;

    protected sealed class TenantState(string name, double weight)
    {
        public string Name { get; } = name;
        public double Weight { get; } = weight;
        public double Counter;
        public readonly LinkedList<Sequence> Queue = new();
    }

    public VtcPolicy(FairnessOptions options, string name = FairnessPolicies.Vtc)
    {
        options.Validate();
        _options = options;
        Name = name;
    }

    public string Name { get; }

    protected double InputWeight => _options.InputWeight;
    protected double OutputWeight => _options.OutputWeight;

    public bool OnArrival(Sequence sequence, double now)
    {
        var t = Tenant(sequence.Tenant);
        if (t.Queue.Count == 0) Lift(t);
        t.Queue.AddLast(sequence);
        _waiting++;
        return true;
    }

    /// <summary>
    /// Alg. 2 lines 7–13: a tenant (re)joining the backlog starts no lower than the least-served
    /// waiting tenant — or, when nobody waits, than the tenant whose request left the queue last —
    /// so idle time is not banked as credit. max() keeps a real deficit.
    /// </summary>
    protected virtual void Lift(TenantState tenant)
    {
        double floor = double.NaN;
        foreach (var other in _tenants)
            if (other.Queue.Count > 0 && !(other.Counter >= floor)) floor = other.Counter;
        if (double.IsNaN(floor) && _lastLeft is not null) floor = _lastLeft.Counter;
        if (!double.IsNaN(floor)) tenant.Counter = Math.Max(tenant.Counter, floor);
    }

    public Sequence? PeekNext() => MinTenant()?.Queue.First!.Value;

    public void OnAdmitted(Sequence sequence)
    {
        var t = _byName[sequence.Tenant];
        if (!ReferenceEquals(t.Queue.First?.Value, sequence) || !ReferenceEquals(MinTenant(), t))
            throw new InvalidOperationException($"request {sequence.Id} is not the head of the least-served tenant's queue");
        t.Queue.RemoveFirst();
        _waiting--;
        _lastLeft = t;
        // Charged before the next pick of the same fill loop, or one tenant would take the whole new batch (paper footnote 5).
        if (!sequence.InputCharged)
        {
            sequence.InputCharged = true;
            t.Counter += ChargeAtAdmission(sequence) / t.Weight;
        }
    }

    public void OnPreempted(Sequence sequence)
    {
        var t = _byName[sequence.Tenant];
        t.Queue.AddFirst(sequence);
        _waiting++;
    }

    public void OnTokenGenerated(Sequence sequence)
    {
        var t = _byName[sequence.Tenant];
        t.Counter += ChargeForToken(sequence) / t.Weight;
    }

    public void OnFinished(Sequence sequence)
    {
        var t = _byName[sequence.Tenant];
        t.Counter += SettleAtFinish(sequence) / t.Weight;
    }

    /// <summary>Unweighted charge when <paramref name="sequence"/> is first admitted: w_p·input.</summary>
    protected virtual double ChargeAtAdmission(Sequence sequence) => InputWeight * sequence.PromptLength;

    /// <summary>Unweighted charge for the token just appended to <paramref name="sequence"/>: w_q.</summary>
    protected virtual double ChargeForToken(Sequence sequence) => OutputWeight;

    /// <summary>Unweighted correction when an admitted request ends; linear VTC charged everything already.</summary>
    protected virtual double SettleAtFinish(Sequence sequence) => 0;

    public bool RemoveWaiting(Sequence sequence)
    {
        if (!_byName.TryGetValue(sequence.Tenant, out var t) || !t.Queue.Remove(sequence)) return false;
        _waiting--;
        return true;
    }

    public int WaitingCount => _waiting;

    public int WaitingFor(string tenant) => _byName.TryGetValue(tenant, out var t) ? t.Queue.Count : 0;

    public double Counter(string tenant) => _byName.TryGetValue(tenant, out var t) ? t.Counter : 0;

    private TenantState? MinTenant()
    {
        TenantState? best = null;
        foreach (var t in _tenants)
            if (t.Queue.Count > 0 && (best is null || t.Counter < best.Counter)) best = t;
        return best;
    }

    private TenantState Tenant(string name)
    {
        if (!_byName.TryGetValue(name, out var t))
        {
            t = new TenantState(name, _options.WeightOf(name));
            _byName[name] = t;
            _tenants.Add(t);
        }
        return t;
    }
}
