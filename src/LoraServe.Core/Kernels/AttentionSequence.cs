namespace LoraServe.Core.Kernels;

/// <summary>
/// One sequence's share of a flattened attention batch: its new tokens are rows
/// TokenOffset … TokenOffset+TokenCount−1 of q/out, at absolute positions
/// StartPosition … StartPosition+TokenCount−1; their K/V are already in the cache.
/// </summary>
public readonly record struct AttentionSequence(int TokenOffset, int TokenCount, int StartPosition, int[] BlockTable);
