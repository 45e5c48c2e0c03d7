using LoraServe.Engine.Kv;
using LoraServe.Engine.LoraBatching;
using LoraServe.Engine.Requests;
using LoraServe.Engine.Scheduling;
using LoraServe.Lora.Adapters;

namespace LoraServe.Engine.Tests.Scheduling;

/// <summary>
/// Drives the real <see cref="Scheduler"/> and fairness policy without a model: every scheduled
/// chunk counts as computed, every sampling chunk yields one token, and a request ends after
/// exactly its MaxOutputTokens tokens (like the paper's ignore_eos benchmarks). Service is measured
/// independently of the policy's counters: w_p·prompt when a request is first admitted (its prefill
/// runs in that very step when the token budget is not limiting) and w_q per generated token.
/// </summary>
internal sealed class SchedulerSimulation
{
    private long _nextId;

    public SchedulerSimulation(string policy, SchedulerOptions options, int blocks, int blockSize, double watermark = 0, FairnessOptions? fairness = null, ILoraBatchingPolicy? lora = null)
    {
        Fairness = fairness ?? new FairnessOptions();
        Blocks = new KvBlockManager(blocks, blockSize, watermark);
        Scheduler = new Scheduler(options, Blocks, FairnessPolicies.Create(policy, Fairness), lora);
    }

    public FairnessOptions Fairness { get; }
    public KvBlockManager Blocks { get; }
    public Scheduler Scheduler { get; }
    public IFairnessPolicy Policy => Scheduler.Policy;
    public List<Sequence> All { get; } = [];
    public Dictionary<string, double> Service { get; } = new(StringComparer.Ordinal);
    public int Steps { get; private set; }
    public int EmptyStepsWithWork { get; private set; }

    /// <summary>Steps the LoRA policy ran merged.</summary>
    public int MergedSteps { get; private set; }
    public double Now { get; set; }

    public Sequence Arrive(string tenant, int prompt, int output, LoraAdapter? adapter = null)
    {
        var request = new Request { Tenant = tenant, PromptTokens = Enumerable.Repeat(1, prompt).ToArray(), Adapter = adapter?.Name, Options = new RequestOptions { MaxTokens = output, IgnoreEos = true } };
        var seq = new Sequence(++_nextId, request, output, Now) { Adapter = adapter };
        All.Add(seq);
        Service.TryAdd(tenant, 0);
        if (!Scheduler.Add(seq, Now)) Scheduler.Finish(seq, FinishReason.Rejected);
        return seq;
    }

    /// <summary>One iteration; returns the step that ran.</summary>
    public SchedulerStep Step()
    {
        bool hadWork = Scheduler.HasWork;
        var step = Scheduler.Schedule();
        Steps++;
        if (hadWork && step.IsEmpty) EmptyStepsWithWork++;
        if (step.MergedAdapter is not null) MergedSteps++;
        foreach (var c in step.Scheduled)
            if (c.Start == 0 && c.Sequence.Preemptions == 0 && c.Sequence.OutputCount == 0)
                Service[c.Sequence.Tenant] += Fairness.InputWeight * c.Sequence.PromptLength;
        Scheduler.OnStepComputed(step);
        foreach (var c in step.Scheduled.ToArray())
        {
            if (!c.Samples) continue;
            var seq = c.Sequence;
            seq.Append(7);
            Scheduler.OnTokenGenerated(seq);
            Service[seq.Tenant] += Fairness.OutputWeight;
            if (seq.OutputCount == seq.MaxOutputTokens) Scheduler.Finish(seq, FinishReason.Length);
        }
        return step;
    }

    public int RunToCompletion(int maxSteps)
    {
        int n = 0;
        while (Scheduler.HasWork && n++ < maxSteps) Step();
        return n;
    }
}
