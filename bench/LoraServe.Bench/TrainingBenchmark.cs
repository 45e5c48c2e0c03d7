using LoraServe.Core.Kernels;
using LoraServe.Core.Tensors;
using LoraServe.Models.Creation;
using LoraServe.Models.Llama;
using LoraServe.Models.Weights;
using LoraServe.Training.Model;
using LoraServe.Training.Optim;

namespace LoraServe.Bench;

/// <summary>
/// LoRA training throughput on the SmolLM2-135M shape (random BF16 weights written as a real HF
/// directory and memory-mapped, as a downloaded model would be): tokens/s of a full optimizer
/// step (forward with saved activations, backward, clipping, AdamW) and its ratio to an inference
/// forward of the same batch (LlamaModel.Forward with logits for every row, since training takes
/// the loss at every row). Configurations: rank 8 on q_proj,v_proj and rank 16 on all linear layers.
/// Options: --seqs N (sequences per batch, default 4), --len N (tokens each, default 128).
/// </summary>
public sealed class TrainingBenchmark : IBenchmark
{
    public string Name => "training";

    public string Description => "LoRA training step tokens/s on SmolLM2-135M and step / forward ratio";

    public void Run(BenchOptions options)
    {
        int seqs = 4, len = 128;
        for (int i = 0; i < options.Rest.Count - 1; i++)
        {
            if (options.Rest[i] == "--seqs") seqs = int.Parse(options.Rest[i + 1]);
            if (options.Rest[i] == "--len") len = int.Parse(options.Rest[i + 1]);
        }
        string dir = Path.Combine(Path.GetTempPath(), "loraserve-bench-135m");
        if (!File.Exists(Path.Combine(dir, "model.safetensors"))) RandomModelWriter.Write(dir, ModelShape.SmolLM2_135M(), 1, DType.BF16);
        using var weights = LlamaWeightsLoader.Load(dir);
        var c = weights.Config;

        var rng = new Random(7);
        var tokens = new int[seqs * len];
        for (int i = 0; i < tokens.Length; i++) tokens[i] = rng.Next(c.VocabSize);
        var targets = new int[tokens.Length];
        for (int s = 0; s < seqs; s++)
            for (int t = 0; t < len; t++) targets[s * len + t] = t + 1 < len ? tokens[s * len + t + 1] : -1;
        var batch = new TrainingBatch(tokens, targets, Enumerable.Repeat(len, seqs).ToArray());
        int n = tokens.Length;
        Console.WriteLine($"# batch {seqs} x {len} = {n} tokens, {batch.LossTokens} with loss; weights {c.TorchDtype}, {options.Reps} alternating rounds (median)");


        foreach (var (label, kinds, rank) in new (string, LinearKind[], int)[]
        {
            ("r8 q,v", [LinearKind.Q, LinearKind.V], 8),
            ("r16 all-linear", LinearKinds.All, 16),
        })
        {
            var lora = new LoraSet(c, kinds, rank, 2 * rank, useRsLora: false);
            PeftInitialization.Initialize(lora, new TrainingRng(1));
            using var model = new TrainingModel(weights, lora, null, len);
            var parameters = model.Parameters();
            var adam = new AdamW(parameters);
            float weight = 1f / batch.LossTokens;
            // Forward, training forward and step are timed in alternation, one call each per round, and
            // the medians compared: on a shared machine a neighbour's burst then hits all three alike
            // instead of skewing whichever was being timed at that moment.
            var runForward = InferenceForward(weights, tokens, seqs, len);
            var fwd = new double[options.Reps];
            var trainFwd = new double[options.Reps];
            var steps = new double[options.Reps];
            void Step()
            {
                GradientClipping.Zero(parameters);
                model.ForwardBackward(batch, weight);
                GradientClipping.ClipGlobalNorm(parameters, 1.0);
                adam.Step(1e-4);
            }
            Step();
            model.Loss(batch);
            runForward();
            for (int r = 0; r < options.Reps; r++)
            {
                fwd[r] = Seconds(runForward);
                trainFwd[r] = Seconds(() => model.Loss(batch));
                steps[r] = Seconds(Step);
            }
            double forward = Median(fwd), trainForward = Median(trainFwd), step = Median(steps);
            Console.WriteLine($"{label,-15} ({lora.ParameterCount,9:N0} params): step {step * 1e3,8:F0} ms  {n / step,6:F0} tok/s | inference forward {forward * 1e3,7:F0} ms" +
                $" | training forward {trainForward * 1e3,7:F0} ms | step/inference-forward {step / forward,4:F2}x  step/training-forward {step / trainForward,4:F2}x");
        }
    }

    private static double Seconds(Action action)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        action();
        return sw.Elapsed.TotalSeconds;
    }

    private static double Median(double[] samples)
    {
        var s = (double[])samples.Clone();
        Array.Sort(s);
        return s[s.Length / 2];
    }

    /// <summary>A closure running LlamaModel.Forward over the batch; the KV cache lives as long as the closure.</summary>
    private static Action InferenceForward(LlamaWeights weights, int[] tokens, int seqs, int len)
    {
        var model = new LlamaModel(weights);
        var cache = model.CreateKvCache(seqs * ((len + 15) / 16), 16);
        var sequences = new AttentionSequence[seqs];
        for (int s = 0; s < seqs; s++)
        {
            int blocks = (len + 15) / 16;
            sequences[s] = new AttentionSequence(s * len, len, 0, Enumerable.Range(s * blocks, blocks).ToArray());
        }
        var batch = new ForwardBatch(tokens, sequences, Enumerable.Range(0, tokens.Length).ToArray());
        var logits = new float[(long)tokens.Length * weights.Config.VocabSize];
        return () => model.Forward(batch, cache, logits);
    }
}
