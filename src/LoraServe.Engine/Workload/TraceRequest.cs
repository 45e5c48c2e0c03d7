namespace LoraServe.Engine.Workload;

/// <summary>One request of a generated trace: when it arrives (seconds from start), whose it is, and its shape.</summary>
public readonly record struct TraceRequest(double Time, string Tenant, string? Adapter, int PromptLength, int OutputLength);
