using LoraServe.Engine.Requests;

namespace LoraServe.Engine.Scheduling;

/// <summary>
/// One sequence's share of a step: tokens Start … Start+Count−1 of its token buffer go through the
/// model; if <see cref="Samples"/>, the step ends at the sequence's last token and a new token is
/// sampled from its logits (a decode step, or the last chunk of a prefill).
/// </summary>
public readonly record struct ScheduledChunk(Sequence Sequence, int Start, int Count, bool Samples);
