using LoraServe.Engine.Requests;

namespace LoraServe.Engine.Scheduling;

/// <summary>
/// Decides which waiting request enters the running batch next (DESIGN §5.1: VTC and its
/// baselines). The policy owns the waiting queues; the <see cref="Scheduler"/> owns the batch and
/// the KV blocks and tells the policy what happened. Admission is "peek, check it fits, admit":
/// when the peeked request does not fit the scheduler stops filling — it never asks for another
/// tenant's request instead (VTC paper Alg. 2, work-conserving but not skipping).
/// </summary>
public interface IFairnessPolicy
{
    /// <summary>The flag value that selects the policy (--scheduling-policy).</summary>
    string Name { get; }

    /// <summary>A new request arrived at engine time <paramref name="now"/> (seconds). Returns false if the policy refuses it (rate limit).</summary>
    bool OnArrival(Sequence sequence, double now);

    /// <summary>The request that should be admitted next, or null when nothing waits.</summary>
    Sequence? PeekNext();

    /// <summary>The peeked request fitted and is admitted: leaves the queue; charge its input now.</summary>
    void OnAdmitted(Sequence sequence);

    /// <summary>A running request was preempted (recompute): it returns to the head of its queue.</summary>
    void OnPreempted(Sequence sequence);

    /// <summary>One output token was generated for <paramref name="sequence"/> (called exactly once per token).</summary>
    void OnTokenGenerated(Sequence sequence);

    /// <summary>An admitted request ended (any reason): settle anything charged in advance.</summary>
    void OnFinished(Sequence sequence);

    /// <summary>Removes a waiting request (cancelled before admission); false if it was not waiting.</summary>
    bool RemoveWaiting(Sequence sequence);

    int WaitingCount { get; }

    /// <summary>Requests waiting from <paramref name="tenant"/>.</summary>
    int WaitingFor(string tenant);

    /// <summary>The tenant's virtual token counter, or NaN for policies without one.</summary>
    double Counter(string tenant);
}
