using LoraServe.Engine.LoraBatching;
using LoraServe.Lora.Adapters;

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

    /// <summary>
    /// The LoRA policy's plan for this step (null when the scheduler has none): the step's chunks
    /// are the plan's selection from <see cref="LoraCandidates"/>, the batch FCFS would have run.
    /// </summary>
    public LoraBatchPlan? LoraPlan { get; internal set; }

    /// <summary>What the LoRA policy chose from: one candidate per chunk of the unfiltered step, in order.</summary>
    public IReadOnlyList<LoraCandidate> LoraCandidates => Candidates;

    internal readonly List<LoraCandidate> Candidates = [];

    /// <summary>The adapter to run merged (the plan is Merged), else null: every chunk then belongs to it.</summary>
    public LoraAdapter? MergedAdapter { get; internal set; }

    internal void Clear()
    {
        Chunks.Clear();
        Candidates.Clear();
        LoraPlan = null;
        MergedAdapter = null;
        TokenCount = 0;
        Preempted = 0;
        Admitted = 0;
    }
}
