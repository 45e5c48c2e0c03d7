namespace LoraServe.Testing;

/// <summary>One LoRA module for the reference forward: A (rank, in), B (out, rank), and its scale s.</summary>
public sealed record ReferenceLoraModule(float[] A, float[] B, int Rank, double Scale);
