using LoraServe.Engine.Requests;

namespace LoraServe.Engine.Workload;

/// <summary>One request's outcome in a bench run; times in seconds from the run's start (NaN = never happened).</summary>
public sealed record RequestRecord(string Tenant, string? Adapter, double Arrival, double FirstToken, double Finish, int PromptLength, int RequestedOutput, int OutputTokens, FinishReason Reason);

/// <summary>Cumulative served tokens per tenant, sampled from the engine's statistics during the run.</summary>
public sealed record ServiceSample(double Time, IReadOnlyDictionary<string, (long Prompt, long Generated)> Tenants);

/// <summary>Everything measured in one policy's run over the trace.</summary>
public sealed record BenchRun(string Policy, double Duration, double WallSeconds, IReadOnlyList<RequestRecord> Requests, IReadOnlyList<ServiceSample> Samples, EngineStatistics Final);
