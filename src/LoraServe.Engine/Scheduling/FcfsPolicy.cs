using LoraServe.Engine.Requests;

namespace LoraServe.Engine.Scheduling;

/// <summary>First come, first served over one queue (vLLM's and S-LoRA's default; the VTC paper's FCFS baseline).</summary>
public class FcfsPolicy : IFairnessPolicy
{
    private readonly LinkedList<Sequence> _queue = new();
    private readonly Dictionary<string, int> _waitingByTenant = new(StringComparer.Ordinal);

    public virtual string Name => FairnessPolicies.Fcfs;

    public virtual bool OnArrival(Sequence sequence, double now)
    {
        _queue.AddLast(sequence);
        Count(sequence.Tenant, +1);
        return true;
    }

    public Sequence? PeekNext() => _queue.First?.Value;

    public void OnAdmitted(Sequence sequence)
    {
        if (!ReferenceEquals(_queue.First?.Value, sequence)) throw new InvalidOperationException($"request {sequence.Id} is not at the head of the FCFS queue");
        _queue.RemoveFirst();
        Count(sequence.Tenant, -1);
    }

    // vLLM puts a preempted request back in front: it is the oldest work in the system.
    public void OnPreempted(Sequence sequence)
    {
        _queue.AddFirst(sequence);
        Count(sequence.Tenant, +1);
    }

    public void OnTokenGenerated(Sequence sequence) { }

    public void OnFinished(Sequence sequence) { }

    public bool RemoveWaiting(Sequence sequence)
    {
        if (!_queue.Remove(sequence)) return false;
        Count(sequence.Tenant, -1);
        return true;
    }

    public int WaitingCount => _queue.Count;

    public int WaitingFor(string tenant) => _waitingByTenant.GetValueOrDefault(tenant);

    public double Counter(string tenant) => double.NaN;

    private void Count(string tenant, int delta) => _waitingByTenant[tenant] = _waitingByTenant.GetValueOrDefault(tenant) + delta;
}
