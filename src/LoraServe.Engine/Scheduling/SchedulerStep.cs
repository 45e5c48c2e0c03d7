namespace LoraServe.Engine.Scheduling;

/// <summary>What one engine iteration runs; reused from step to step (cleared, not reallocated).</summary>
public sealed class SchedulerStep
{
    internal readonly List<ScheduledChunk> Chunks = [];

    public IReadOnlyList<ScheduledChunk> Scheduled => Chunks;

    public int TokenCount { get; internal set; }

    /// <summary>Sequences preempted (by recompute) to make room in this step.</summary>
    public int Preempted { get; internal set; }

    /// <summary>Sequences admitted from the waiting queues in this step.</summary>
    public int Admitted { get; internal set; }

    public bool IsEmpty => Chunks.Count == 0;

    internal void Clear()
    {
        Chunks.Clear();
        TokenCount = 0;
        Preempted = 0;
        Admitted = 0;
    }
}
