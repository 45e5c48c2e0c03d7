namespace LoraServe.Engine.LoraBatching;

/// <summary>How the step executes its LoRA work (DESIGN §5.2).</summary>
public enum LoraExecutionMode
{
    /// <summary>Base weights untouched; every row's adapter applied as a segment (S-LoRA/Punica).</summary>
    Unmerged,

    /// <summary>One adapter merged into the weights; only that adapter's rows run (PEFT style).</summary>
    Merged,
}

/// <summary>
/// One candidate for the step, in FCFS order: its adapter's key (null = the plain base model), the
/// tokens it would run this step (1 when decoding, a chunk when prefilling), its adapter's cost
/// profile (default when unknown — the cost model then counts only the per-adapter term), how
/// many more steps it may still need at most (tokens left to generate; 0 = unknown), and the work
/// (prompt + max output tokens) of its adapter's requests still waiting for admission.
/// </summary>
public readonly record struct LoraCandidate(string? Adapter, int Tokens = 1, AdapterProfile Profile = default, int RemainingSteps = 0, long AdapterWaitingWork = 0);

/// <summary>
/// A LoRA policy's decision for one step: the mode, the merged adapter (Merged only), and which
/// candidates run (indices into the candidate list, in order).
/// </summary>
public sealed record LoraBatchPlan(LoraExecutionMode Mode, string? MergedAdapter, IReadOnlyList<int> Selected);
