using System.CommandLine;
using LoraServe.Core.Kernels;
using LoraServe.Core.Tensors;
using LoraServe.Lora.Execution;
using LoraServe.Models.Generation;
using LoraServe.Models.Llama;
using LoraServe.Models.Chat;
using LoraServe.Models.Config;
using LoraServe.Models.Tokenization;
using LoraServe.Models.Weights;
using LoraServe.Training;
using LoraServe.Training.Checkpoints;
using LoraServe.Training.Data;
using LoraServe.Training.Reporting;

namespace LoraServe.Cli.Commands;

/// <summary>
/// `loraserve train`: fine-tune a LoRA adapter on a frozen base model (or, with --full-parameter,
/// every weight of a small model) from JSONL data, and write a PEFT adapter directory the server
/// loads, with training_log.jsonl, eval_results.json and loss_curve.png beside it.
/// </summary>
internal static class TrainCommand
{
    internal static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "Base model: a Hugging Face model directory (default: the embedded default model)" };
        var data = new Option<string>("--data") { Description = "Training JSONL: {\"prompt\",\"completion\"}, {\"messages\":[...]} or {\"text\"} per line", Required = true };
        var eval = new Option<string?>("--eval") { Description = "Evaluation JSONL (same formats); eval loss and perplexity are reported after every epoch" };
        var rank = new Option<int>("--rank") { Description = "LoRA rank r", DefaultValueFactory = _ => 8 };
        var alpha = new Option<double>("--alpha") { Description = "LoRA alpha (scale α/r, or α/√r with --rslora)", DefaultValueFactory = _ => 16 };
        var rslora = new Option<bool>("--rslora") { Description = "rsLoRA scaling α/√r" };
        var targets = new Option<string>("--target-modules") { Description = "Comma-separated modules (q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj) or all-linear", DefaultValueFactory = _ => "q_proj,v_proj" };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate (AdamW, linear warmup then cosine decay)", DefaultValueFactory = _ => 2e-4 };
        var epochs = new Option<int>("--epochs") { Description = "Passes over the training data", DefaultValueFactory = _ => 1 };
        var batch = new Option<int>("--batch-size") { Description = "Sequences per micro-batch", DefaultValueFactory = _ => 4 };
        var accum = new Option<int>("--grad-accum") { Description = "Micro-batches per optimizer step", DefaultValueFactory = _ => 1 };
        var maxLen = new Option<int>("--max-seq-len") { Description = "Longest sequence in tokens; longer rows are truncated", DefaultValueFactory = _ => 256 };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the LoRA init and the data order", DefaultValueFactory = _ => 42UL };
        var output = new Option<string>("--out") { Description = "Output directory: the PEFT adapter (or the model, with --full-parameter), logs and plot", Required = true };
        var resume = new Option<string?>("--resume") { Description = "Checkpoint directory to continue from (written under --out/checkpoint by an earlier run)" };
        var warmup = new Option<double>("--warmup-ratio") { Description = "Fraction of the steps spent warming the learning rate up", DefaultValueFactory = _ => 0.03 };
        var decay = new Option<double>("--weight-decay") { Description = "AdamW decoupled weight decay", DefaultValueFactory = _ => 0.0 };
        var clip = new Option<double>("--max-grad-norm") { Description = "Clip the global gradient norm to this (0 = off)", DefaultValueFactory = _ => 1.0 };
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "Write --out/checkpoint every N optimizer steps (and at the end); 0 = only at the end", DefaultValueFactory = _ => 0 };
        var full = new Option<bool>("--full-parameter") { Description = "Train every weight (float32 master copies) and write a model directory; for small models such as the demo's base" };
        var skipBad = new Option<bool>("--skip-bad-rows") { Description = "Report bad data rows and train on the rest instead of stopping" };
        var baseName = new Option<string?>("--base-model-name-or-path") { Description = "base_model_name_or_path written into adapter_config.json (default: the --model directory's full path)" };
        var samples = new Option<string[]>("--sample") { Description = "After training, print the greedy completion of this prompt by the base model and by the trained one (repeatable)", AllowMultipleArgumentsPerToken = false };

        var command = new Command("train", "Fine-tune a LoRA adapter (PEFT format) on a frozen base model");
        foreach (var o in new Option[] { model, data, eval, rank, alpha, rslora, targets, lr, epochs, batch, accum, maxLen, seed, output, resume, warmup, decay, clip, checkpointEvery, full, skipBad, samples, baseName })
            command.Options.Add(o);
        command.SetAction(parse =>
        {
            try
            {
                var options = new TrainerOptions
                {
                    FullParameter = parse.GetValue(full), Rank = parse.GetValue(rank), Alpha = parse.GetValue(alpha), UseRsLora = parse.GetValue(rslora),
                    Targets = TrainerOptions.ParseTargets(parse.GetValue(targets)!), LearningRate = parse.GetValue(lr), Epochs = parse.GetValue(epochs),
                    BatchSize = parse.GetValue(batch), GradAccum = parse.GetValue(accum), MaxSeqLen = parse.GetValue(maxLen), Seed = parse.GetValue(seed),
                    WarmupRatio = parse.GetValue(warmup), WeightDecay = parse.GetValue(decay), MaxGradNorm = parse.GetValue(clip),
                };
                options.Validate();
                string dir = parse.GetValue(model) ?? DefaultModel.EnsureCreated(Console.Error);
                return Run(dir, options, parse.GetValue(data)!, parse.GetValue(eval), parse.GetValue(output)!, parse.GetValue(resume),
                    parse.GetValue(checkpointEvery), parse.GetValue(skipBad), parse.GetValue(samples) ?? [], parse.GetValue(baseName));
            }
            catch (Exception e) when (e is ModelFormatException or ArgumentException or IOException or NotSupportedException or ChatTemplateException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
        });
        return command;
    }

    private static int Run(string modelDir, TrainerOptions options, string dataPath, string? evalPath, string outDir, string? resume, int checkpointEvery, bool skipBad, string[] samples, string? baseName)
    {
        var config = ModelConfigLoader.Load(modelDir);
        var tokenizer = HfTokenizer.Load(modelDir);
        // Models without a chat template get ChatML, whose special tokens the built-in tokenizer has.
        var chat = new ChatRenderer(ChatTemplate.FromTokenizerConfig(modelDir) ?? ChatTemplate.ChatML);
        var train = JsonlDataset.Load(dataPath, tokenizer, options.MaxSeqLen, chat);
        var evalSet = evalPath is null ? null : JsonlDataset.Load(evalPath, tokenizer, options.MaxSeqLen, chat);
        int bad = Report(dataPath, train) + (evalSet is null ? 0 : Report(evalPath!, evalSet));
        if (bad > 0 && !skipBad)
        {
            Console.Error.WriteLine($"error: {bad} bad row(s); fix them or pass --skip-bad-rows");
            return 1;
        }
        if (train.Examples.Count == 0)
        {
            Console.Error.WriteLine($"error: '{dataPath}' has no usable rows");
            return 1;
        }

        using var weights = LlamaWeightsLoader.Load(modelDir, config);
        using var trainer = new Trainer(weights, options, train.Examples);
        if (resume is not null)
        {
            TrainerCheckpoint.Restore(trainer, resume);
            Console.Error.WriteLine($"resumed from '{resume}' at step {trainer.Step}/{trainer.TotalSteps}");
        }
        long trainable = trainer.Parameters.Sum(p => (long)p.Values.Length);
        Console.Error.WriteLine($"{train.Examples.Count} examples, {trainer.TotalSteps} steps, {trainable:N0} trainable parameters ({(options.FullParameter ? "full-parameter" : $"LoRA r={options.Rank} on {string.Join(",", options.Targets.Select(t => LoraServe.Models.Llama.LinearKinds.ModuleName(t)))}")})");

        var evals = new List<EpochEvaluation>();
        string checkpointDir = Path.Combine(outDir, "checkpoint");
        new ConsoleProgress().Run(trainer.TotalSteps, trainer.Step, () =>
        {
            if (trainer.Done) return null;
            int epochBefore = trainer.Epoch;
            var r = trainer.TrainStep();
            if (trainer.Epoch != epochBefore && evalSet is { Examples.Count: > 0 })
            {
                var (loss, ppl) = trainer.Evaluate(evalSet.Examples);
                evals.Add(new EpochEvaluation(epochBefore + 1, trainer.Step, loss, ppl));
            }
            if (checkpointEvery > 0 && trainer.Step % checkpointEvery == 0) TrainerCheckpoint.Save(trainer, checkpointDir);
            return r;
        });
        TrainerCheckpoint.Save(trainer, checkpointDir);

        if (trainer.Lora is not null) AdapterExport.WriteAdapter(outDir, trainer.Lora, baseName ?? Path.GetFullPath(modelDir));
        else AdapterExport.WriteModel(outDir, trainer.Full!, modelDir, DType.F32);
        TrainingReport.Write(outDir, trainer.History, evals, $"{Path.GetFileName(Path.GetFullPath(outDir))} — {Path.GetFileName(Path.GetFullPath(modelDir))}");
        foreach (var e in evals) Console.Error.WriteLine($"epoch {e.Epoch}: eval loss {e.Loss:F4}, perplexity {e.Perplexity:F2}");
        foreach (var prompt in samples) PrintSample(prompt, weights, trainer, tokenizer);
        Console.WriteLine(Path.GetFullPath(outDir));
        return 0;
    }

    /// <summary>Greedy completions through the inference engine: base weights, then with the trained adapter (or the trained weights).</summary>
    private static void PrintSample(string prompt, LlamaWeights baseWeights, Trainer trainer, HfTokenizer tokenizer)
    {
        var ids = tokenizer.Encode(prompt, addSpecialTokens: true);
        var options = new GenerationOptions { MaxTokens = 48, Sampling = SamplingParams.Greedy, StopTokenIds = tokenizer.EosTokenIds };
        string Complete(LlamaWeights w, ILinearDelta? delta)
        {
            var tokens = new List<int>();
            // Not disposed: disposing a LlamaModel releases its weights, which the caller still owns.
            foreach (var t in new SingleSequenceGenerator(new LlamaModel(w)).Generate(ids, options, delta))
                if (t.Finish != FinishReason.Stop) tokens.Add(t.TokenId);
            return tokenizer.Decode(tokens.ToArray(), skipSpecialTokens: true);
        }
        Console.WriteLine($"prompt:  {prompt}");
        Console.WriteLine($"base:    {Complete(baseWeights, null)}");
        if (trainer.Lora is not null)
        {
            Console.WriteLine($"trained: {Complete(baseWeights, new SingleAdapterDelta(trainer.Lora.ToAdapter("trained")))}");
        }
        else Console.WriteLine($"trained: {Complete(trainer.Full!.Weights, null)}");
    }

    private static int Report(string path, JsonlDataset set)
    {
        foreach (var e in set.Errors) Console.Error.WriteLine($"{path}:{e.LineNumber}: {e.Message}");
        return set.Errors.Count;
    }
}
