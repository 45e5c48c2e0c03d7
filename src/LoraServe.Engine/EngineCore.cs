using System.Threading.Channels;
using LoraServe.Core.Kv;
using LoraServe.Engine.Execution;
using LoraServe.Engine.Kv;
using LoraServe.Engine.LoraBatching;
using LoraServe.Engine.Requests;
using LoraServe.Engine.Scheduling;
using LoraServe.Lora.Registry;
using LoraServe.Models.Llama;
using LoraServe.Models.Tokenization;

namespace LoraServe.Engine;

/// <summary>
/// One engine iteration at a time, on the calling thread (DESIGN §3): take arrivals and
/// cancellations, schedule, run the model, sample, stream tokens, finish requests. <see cref="LlmEngine"/>
/// drives it from its own thread; tests drive it step by step. Every way a request ends goes
/// through <see cref="End"/>, which frees its KV blocks, releases its adapter lease and closes
/// its stream — the one place that keeps the block count recoverable.
/// </summary>
public sealed class EngineCore : IDisposable
{
    private readonly EngineOptions _options;
    private readonly PagedKvCache _cache;
    private readonly ModelRunner _runner;
    private readonly HfTokenizer? _tokenizer;
    private readonly int[] _eos;
    private readonly Dictionary<long, Sequence> _live = [];
    private readonly Dictionary<string, Tally> _tenants = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Tally> _adapters = new(StringComparer.Ordinal);
    private readonly Func<double> _clock;
    private long _nextId;
    private long _steps, _scheduledTokens, _promptTokens, _generatedTokens, _finished, _idleWhileWaiting, _mergedSteps;

    private sealed class Tally
    {
        public long Prompt, Generated, Finished;
    }

    public EngineCore(LlamaModel model, EngineOptions options, HfTokenizer? tokenizer = null)
    {
        options.Validate();
        _options = options;
        Model = model;
        _tokenizer = tokenizer;
        _eos = [.. options.EosTokenIds];
        _cache = model.CreateKvCache(options.NumKvBlocks, options.BlockSize);
        Blocks = new KvBlockManager(options.NumKvBlocks, options.BlockSize, options.KvWatermark);
        _runner = new ModelRunner(model, _cache);
        // The dlora policy's cost model is measured here, on this machine, unless the caller gives one
        // (with the runner's merger, whose buffers it leaves allocated and touched).
        var lora = LoraBatchingPolicies.Create(options.LoraPolicy, () => options.LoraCosts ?? LoraCostCalibration.Measure(model, merger: _runner.Merger), options.LoraCredit);
        Scheduler = new Scheduler(options.Scheduler, Blocks, FairnessPolicies.Create(options.Policy, options.Fairness), lora);
        _runner.SwitchCompleted = (adapter, seconds) => lora.OnSwitchCompleted(Scheduler.AdapterKeys.ProfileOf(adapter), seconds);
        if (options.Clock is { } clock) _clock = clock;
        else
        {
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            _clock = () => System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
    }

    public LlamaModel Model { get; }
    public KvBlockManager Blocks { get; }
    public Scheduler Scheduler { get; }
    public bool HasWork => Scheduler.HasWork;
    public double Now => _clock();

    /// <summary>Test hook: runs after scheduling, before the forward (throw here to simulate a failing step).</summary>
    internal Action<SchedulerStep>? BeforeForward { get; set; }

    /// <summary>
    /// Checks a request at the boundary (caller's thread; reads only immutable engine state) and
    /// returns how many tokens it may generate: max_tokens, capped by the model's context.
    /// </summary>
    public int Validate(Request request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (string.IsNullOrEmpty(request.Tenant)) throw new ArgumentException("the request has no tenant");
        request.Options.Validate();
        var prompt = request.PromptTokens;
        if (prompt is null || prompt.Count == 0) throw new ArgumentException("the prompt has no tokens");
        int vocab = Model.Config.VocabSize;
        for (int i = 0; i < prompt.Count; i++)
            if ((uint)prompt[i] >= (uint)vocab) throw new ArgumentException($"prompt token {i} is {prompt[i]}, outside the vocabulary of {vocab}");
        int context = Model.Config.MaxPositionEmbeddings;
        if (prompt.Count >= context)
            throw new ArgumentException($"the prompt has {prompt.Count} tokens; the model's context is {context} (max_position_embeddings) and at least one must be left to generate");
        if (request.Options.StopStrings.Count > 0 && _tokenizer is null)
            throw new ArgumentException("stop strings need a tokenizer, and this engine was started without one");
        int maxOutput = Math.Min(request.Options.MaxTokens, context - prompt.Count);
        if (Scheduler.CheckFits(prompt.Count, maxOutput) is { } why) throw new ArgumentException(why);
        return maxOutput;
    }

    /// <summary>Adds a validated request; if the fairness policy refuses it, it ends at once as Rejected.</summary>
    public Sequence Add(Request request, int maxOutput, ChannelWriter<TokenEvent>? writer = null, RequestHandle? handle = null, AdapterLease? lease = null)
    {
        var seq = new Sequence(handle?.Id ?? Interlocked.Increment(ref _nextId), request, maxOutput, Now)
        {
            Adapter = lease?.Adapter,
            Writer = writer,
            Handle = handle,
            StopMatcher = request.Options.StopStrings.Count > 0 ? new StopStringMatcher(_tokenizer!.CreateDetokenizer(), request.Options.StopStrings) : null,
        };
        seq.Lease = lease;
        _live[seq.Id] = seq;
        Tenant(seq.Tenant);
        if (!Scheduler.Add(seq, seq.ArrivalTime)) End(seq, FinishReason.Rejected, null);
        return seq;
    }

    /// <summary>Cancels a live request (no-op if it already ended); its blocks are free when this returns.</summary>
    public void Cancel(long id)
    {
        if (_live.TryGetValue(id, out var seq)) End(seq, FinishReason.Cancelled, null);
    }

    /// <summary>Ends every live request with <paramref name="reason"/> (engine stop or fatal error).</summary>
    public void EndAll(FinishReason reason, string? error)
    {
        foreach (var seq in _live.Values.ToArray()) End(seq, reason, error);
    }

    public int LiveCount => _live.Count;

    /// <summary>Runs one iteration; returns false if there was nothing to do.</summary>
    public bool Step()
    {
        if (!Scheduler.HasWork) return false;
        var step = Scheduler.Schedule();
        _steps++;
        if (step.IsEmpty)
        {
            if (Scheduler.WaitingCount > 0) _idleWhileWaiting++;
            return false;
        }
        _scheduledTokens += step.TokenCount;
        ReadOnlySpan<SampledToken> sampled;
        try
        {
            BeforeForward?.Invoke(step);
            sampled = _runner.Execute(step);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Which sequence broke the step is unknown: fail them all, keep serving the rest.
            string message = $"engine step failed: {e.GetType().Name}: {e.Message}";
            foreach (var c in step.Chunks) End(c.Sequence, FinishReason.Error, message);
            return true;
        }
        Scheduler.OnStepComputed(step);
        if (step.LoraPlan is { } plan)
        {
            Scheduler.LoraPolicy!.OnStepCompleted(step.LoraCandidates, plan, _runner.LastForwardSeconds);
            if (step.MergedAdapter is not null) _mergedSteps++;
        }
        var chunks = step.Chunks;
        for (int i = 0; i < chunks.Count; i++)
        {
            var c = chunks[i];
            var seq = c.Sequence;
            if (c.Samples) Emit(seq, sampled[i]);
        }
        return true;
    }

    private void Emit(Sequence seq, SampledToken s)
    {
        seq.Append(s.TokenId);
        Scheduler.OnTokenGenerated(seq);
        _generatedTokens++;
        Tenant(seq.Tenant).Generated++;
        Adapter(seq).Generated++;
        if (seq.OutputCount == 1)
        {
            seq.Handle?.MarkFirstToken(System.Diagnostics.Stopwatch.GetTimestamp());
            // The prompt counts as served once, when its prefill completes (recompute after preemption does not count again).
            if (seq.Preemptions == 0)
            {
                _promptTokens += seq.PromptLength;
                Tenant(seq.Tenant).Prompt += seq.PromptLength;
                Adapter(seq).Prompt += seq.PromptLength;
            }
        }
        var options = seq.Request.Options;
        var finish = FinishReason.None;
        if (!options.IgnoreEos && (Array.IndexOf(_eos, s.TokenId) >= 0 || Contains(options.StopTokenIds, s.TokenId))) finish = FinishReason.EndOfSequence;
        else if (seq.StopMatcher?.Push(s.TokenId) is not null) finish = FinishReason.StopString;
        else if (seq.OutputCount >= seq.MaxOutputTokens) finish = FinishReason.Length;
        seq.Writer?.TryWrite(new TokenEvent(s.TokenId, seq.OutputCount - 1, s.LogProb, s.TopLogprobs, finish));
        if (finish != FinishReason.None) End(seq, finish, null, eventSent: true);
    }

    private void End(Sequence seq, FinishReason reason, string? error, bool eventSent = false)
    {
        if (!_live.Remove(seq.Id)) return;
        Scheduler.Finish(seq, reason);
        seq.Lease?.Dispose();
        seq.Lease = null;
        _finished++;
        Tenant(seq.Tenant).Finished++;
        Adapter(seq).Finished++;
        seq.Handle?.MarkFinished(System.Diagnostics.Stopwatch.GetTimestamp());
        if (!eventSent) seq.Writer?.TryWrite(TokenEvent.Ended(reason, seq.OutputCount, error));
        seq.Writer?.TryComplete();
    }

    public EngineStatistics Snapshot()
    {
        var tenants = new Dictionary<string, ServiceCounters>(StringComparer.Ordinal);
        var running = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var s in Scheduler.Running) running[s.Tenant] = running.GetValueOrDefault(s.Tenant) + 1;
        foreach (var (name, t) in _tenants)
            tenants[name] = new ServiceCounters
            {
                PromptTokens = t.Prompt, GeneratedTokens = t.Generated, FinishedRequests = t.Finished,
                Waiting = Scheduler.Policy.WaitingFor(name), Running = running.GetValueOrDefault(name),
                VirtualCounter = Scheduler.Policy.Counter(name),
            };
        var adapters = new Dictionary<string, ServiceCounters>(StringComparer.Ordinal);
        foreach (var (name, t) in _adapters)
            adapters[name] = new ServiceCounters { PromptTokens = t.Prompt, GeneratedTokens = t.Generated, FinishedRequests = t.Finished };
        return new EngineStatistics
        {
            Waiting = Scheduler.WaitingCount, Running = Scheduler.Running.Count,
            KvBlocksUsed = Blocks.UsedBlocks, KvBlocksTotal = Blocks.TotalBlocks,
            Steps = _steps, ScheduledTokens = _scheduledTokens, Preemptions = Scheduler.TotalPreemptions,
            PromptTokens = _promptTokens, GeneratedTokens = _generatedTokens, FinishedRequests = _finished,
            IdleStepsWhileWaiting = _idleWhileWaiting, Tenants = tenants, Adapters = adapters,
            LoraPolicy = Scheduler.LoraPolicy?.Name ?? LoraBatchingPolicies.Unmerged, MergedSteps = _mergedSteps,
            LoraMerges = _runner.Merges, MergedAdapter = _runner.MergedAdapter?.Name,
        };
    }

    private static bool Contains(IReadOnlyList<int> list, int id)
    {
        for (int i = 0; i < list.Count; i++) if (list[i] == id) return true;
        return false;
    }

    private Tally Tenant(string name)
    {
        if (!_tenants.TryGetValue(name, out var t)) _tenants[name] = t = new Tally();
        return t;
    }

    private Tally Adapter(Sequence seq)
    {
        string name = seq.Adapter?.Name ?? "";
        if (!_adapters.TryGetValue(name, out var t)) _adapters[name] = t = new Tally();
        return t;
    }

    public void Dispose()
    {
        EndAll(FinishReason.Cancelled, null);
        _runner.Dispose();
        _cache.Dispose();
    }
}
