using System.Threading.Channels;
using LoraServe.Engine.Kv;
using LoraServe.Lora.Adapters;
using LoraServe.Lora.Registry;

namespace LoraServe.Engine.Requests;

/// <summary>
/// The engine's running state of one request: prompt and generated tokens in one buffer, how many
/// of them already have KV in the cache, its block table, its own sampling RNG and stream.
/// Touched only by the engine thread (and by scheduler tests, which drive it without a model).
/// After a preemption by recompute, <see cref="NumComputed"/> drops to 0 and the next prefill
/// covers prompt and output so far; nothing is sampled until it has caught up.
/// </summary>
public sealed class Sequence
{
    private int[] _tokens;

    public Sequence(long id, Request request, int maxOutputTokens, double arrivalTime)
    {
        Id = id;
        Request = request;
        Tenant = request.Tenant;
        PromptLength = request.PromptTokens.Count;
        MaxOutputTokens = maxOutputTokens;
        ArrivalTime = arrivalTime;
        _tokens = new int[PromptLength + maxOutputTokens];
        for (int i = 0; i < PromptLength; i++) _tokens[i] = request.PromptTokens[i];
        Length = PromptLength;
        ulong? seed = request.Options.Sampling.Seed;
        // A seeded request owns a reproducible stream (SamplingParams doc); unseeded ones still get their own Random so no two share state.
        Rng = new Random(seed is { } s ? unchecked((int)s ^ (int)(s >> 32)) : Random.Shared.Next());
    }

    public long Id { get; }
    public Request Request { get; }
    public string Tenant { get; }
    public int PromptLength { get; }
    public int MaxOutputTokens { get; }

    /// <summary>Engine clock (seconds) at submission; FCFS order and rate limits use it.</summary>
    public double ArrivalTime { get; }

    /// <summary>Prompt plus generated tokens.</summary>
    public int Length { get; private set; }

    public int OutputCount => Length - PromptLength;

    /// <summary>Positions whose K/V are in the cache.</summary>
    public int NumComputed { get; internal set; }

    public BlockTable Blocks { get; } = new();

    public SequenceStatus Status { get; internal set; } = SequenceStatus.Waiting;

    public FinishReason Finish { get; internal set; }

    public Random Rng { get; }

    public ReadOnlySpan<int> Tokens => _tokens.AsSpan(0, Length);

    public int LastToken => _tokens[Length - 1];

    public int Preemptions { get; internal set; }

    /// <summary>The adapter the request runs with (null = base model), pinned by <see cref="Lease"/> until it ends.</summary>
    public LoraAdapter? Adapter { get; init; }

    internal AdapterLease? Lease { get; set; }
    internal ChannelWriter<TokenEvent>? Writer { get; init; }
    internal RequestHandle? Handle { get; init; }
    internal StopStringMatcher? StopMatcher { get; init; }

    /// <summary>Set once the fairness policy charged the input (VTC charges it at the first admission only, not again after a preemption).</summary>
    internal bool InputCharged { get; set; }

    /// <summary>Output tokens' worth the policy has charged so far (vtc-predict charges a prediction up front and settles at the end).</summary>
    internal double ChargedOutput { get; set; }

    internal void Append(int token)
    {
        if (Length == _tokens.Length) throw new InvalidOperationException($"sequence {Id} already holds its {MaxOutputTokens} output tokens");
        _tokens[Length++] = token;
    }
}
