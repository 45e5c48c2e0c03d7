using System.Diagnostics;
using LoraServe.Models.Weights;
using LoraServe.Training.Data;
using LoraServe.Training.Model;
using LoraServe.Training.Optim;

namespace LoraServe.Training;

/// <summary>
/// The training loop: data order, micro-batches with gradient accumulation, loss normalisation,
/// global-norm clipping, AdamW with warmup + cosine, and evaluation. Everything random comes from
/// one <see cref="TrainingRng"/> seeded by the options (PEFT init first, then one permutation of
/// the data per epoch), and every kernel reduces in a fixed order, so a run is a pure function of
/// (base weights, data, options) for a given thread count — which is what makes checkpoints resume
/// bit for bit (<see cref="TrainerCheckpoint"/>).
/// </summary>
public sealed class Trainer : IDisposable
{
    private readonly IReadOnlyList<TrainingExample> _train;
    private readonly IReadOnlyList<TrainableTensor> _params;

    public Trainer(LlamaWeights baseWeights, TrainerOptions options, IReadOnlyList<TrainingExample> train)
    {
        options.Validate();
        if (train.Count == 0) throw new ArgumentException("no training examples");
        Options = options;
        _train = train;
        Rng = new TrainingRng(options.Seed);
        int maxPositions = Math.Max(2, train.Max(e => e.Tokens.Length));
        if (options.FullParameter)
        {
            Full = new FullParameters(baseWeights);
            Model = new TrainingModel(Full.Weights, null, Full, maxPositions);
        }
        else
        {
            Lora = new LoraSet(baseWeights.Config, options.Targets.ToArray(), options.Rank, options.Alpha, options.UseRsLora);
            PeftInitialization.Initialize(Lora, Rng);
            Model = new TrainingModel(baseWeights, Lora, null, maxPositions);
        }
        _params = Model.Parameters();
        Optimizer = new AdamW(_params, weightDecay: options.WeightDecay);
        int perStep = options.BatchSize * options.GradAccum;
        StepsPerEpoch = (train.Count + perStep - 1) / perStep;
        TotalSteps = StepsPerEpoch * options.Epochs;
        Schedule = new LearningRateSchedule(options.LearningRate, (int)Math.Ceiling(options.WarmupRatio * TotalSteps), TotalSteps);
        Order = Rng.Permutation(train.Count);
    }

    public TrainerOptions Options { get; }
    public TrainingModel Model { get; }
    public LoraSet? Lora { get; }
    public FullParameters? Full { get; }
    public AdamW Optimizer { get; }
    public LearningRateSchedule Schedule { get; }
    public int StepsPerEpoch { get; }
    public int TotalSteps { get; }
    public IReadOnlyList<TrainableTensor> Parameters => _params;

    /// <summary>Optimizer steps completed.</summary>
    public int Step { get; internal set; }

    /// <summary>Epochs completed.</summary>
    public int Epoch { get; internal set; }

    /// <summary>Examples of the current epoch's order already consumed.</summary>
    public int Position { get; internal set; }

    /// <summary>The current epoch's example order.</summary>
    public int[] Order { get; internal set; }

    public TrainingRng Rng { get; internal set; }

    public List<StepResult> History { get; } = [];

    public bool Done => Step >= TotalSteps;

    /// <summary>Runs one optimizer step over the next BatchSize·GradAccum examples of the epoch.</summary>
    public StepResult TrainStep()
    {
        if (Done) throw new InvalidOperationException("training is complete");
        var sw = Stopwatch.StartNew();
        int count = Math.Min(Options.BatchSize * Options.GradAccum, _train.Count - Position);
        int lossTokens = 0, tokens = 0;
        for (int i = 0; i < count; i++)
        {
            var e = _train[Order[Position + i]];
            lossTokens += e.LossTokens;
            tokens += e.Tokens.Length;
        }
        // The loss is the mean over every trained token of the whole step (all micro-batches), so
        // accumulation gives the same gradient as one big batch would.
        float weight = 1f / lossTokens;
        GradientClipping.Zero(_params);
        double lossSum = 0;
        for (int start = 0; start < count; start += Options.BatchSize)
        {
            int n = Math.Min(Options.BatchSize, count - start);
            var batch = TrainingBatch.FromSequences(Enumerable.Range(Position + start, n).Select(i => (_train[Order[i]].Tokens, _train[Order[i]].Targets)));
            lossSum += Model.ForwardBackward(batch, weight);
        }
        double norm = GradientClipping.ClipGlobalNorm(_params, Options.MaxGradNorm);
        double lr = Schedule.At(Step + 1);
        Optimizer.Step(lr);
        Model.WeightsChanged();
        Step++;
        int epoch = Epoch;
        Position += count;
        if (Position >= _train.Count)
        {
            Epoch++;
            Position = 0;
            if (Epoch < Options.Epochs) Order = Rng.Permutation(_train.Count);
        }
        var result = new StepResult(Step, epoch, lossSum / lossTokens, tokens, lossTokens, lr, norm, sw.Elapsed.TotalSeconds);
        History.Add(result);
        return result;
    }

    /// <summary>Mean loss per trained token over <paramref name="data"/> and its perplexity exp(loss).</summary>
    public (double Loss, double Perplexity) Evaluate(IReadOnlyList<TrainingExample> data)
    {
        double sum = 0;
        long n = 0;
        for (int start = 0; start < data.Count; start += Options.BatchSize)
        {
            var slice = data.Skip(start).Take(Options.BatchSize).ToArray();
            var batch = TrainingBatch.FromSequences(slice.Select(e => (Clip(e.Tokens), Clip(e.Targets))));
            sum += Model.Loss(batch);
            n += batch.LossTokens;
        }
        double loss = n == 0 ? double.NaN : sum / n;
        return (loss, Math.Exp(loss));
    }

    // Evaluation rows longer than anything in the training set would not fit the RoPE table.
    private int[] Clip(int[] a) => a.Length <= Model.MaxPositions ? a : a[..Model.MaxPositions];

    public void Dispose() => Model.Dispose();
}
