using System.Diagnostics;
using LoraServe.Core.Kernels;
using LoraServe.Core.Kv;
using LoraServe.Core.Tensors;
using LoraServe.Core.Threading;
using LoraServe.Models.Config;
using LoraServe.Models.Llama;
using LoraServe.Models.Weights;

namespace LoraServe.Bench;

/// <summary>
/// Whole-model decode and prefill on the SmolLM2-135M shape (DESIGN §7): decode tokens/s at
/// batch 1, 8, 32 with every sequence at a fixed context, prefill tokens/s, and the batch-1 step
/// time against the physical limit — (weight bytes + KV bytes read per step) ÷ measured bandwidth.
/// Options: --dtype BF16|F32 (default BF16), --context N (default 256), --prefill N (default 512, 0 = skip),
/// --batch N (repeatable; default 1, 8 and 32), --weights auto|mapped|resident (default auto: see WeightPlacement).
/// </summary>
public sealed class DecodeBenchmark : IBenchmark
{
    public string Name => "decode";

    public string Description => "decode tokens/s at batch 1/8/32 and prefill tokens/s on the SmolLM2-135M shape, vs memory bandwidth";

    public void Run(BenchOptions options)
    {
        var dtype = DType.BF16;
        int context = 256, prefill = 512;
        var batches = new List<int>();
        var placement = WeightPlacement.Auto;
        for (int i = 0; i < options.Rest.Count - 1; i++)
        {
            if (options.Rest[i] == "--batch") batches.Add(int.Parse(options.Rest[i + 1]));
            if (options.Rest[i] == "--dtype") dtype = Enum.Parse<DType>(options.Rest[i + 1], ignoreCase: true);
            if (options.Rest[i] == "--context") context = int.Parse(options.Rest[i + 1]);
            if (options.Rest[i] == "--prefill") prefill = int.Parse(options.Rest[i + 1]);
            if (options.Rest[i] == "--weights") placement = Enum.Parse<WeightPlacement>(options.Rest[i + 1], ignoreCase: true);
        }
        string dir = BenchModels.SmolLM2(dtype);
        var config = ModelConfigLoader.Load(dir);
        using var model = new LlamaModel(LlamaWeightsLoader.Load(dir, config, placement));
        using var probe = new MemoryBandwidthBenchmark.Probe();
        // Bytes a decode step must read: every projection and lm_head once (the tied embedding is
        // lm_head; embedding lookups touch `batch` rows only — an untied embedding matrix is not
        // counted), plus each sequence's K and V for every layer.
        long weightBytes = model.Weights.MatrixBytes - model.Weights.Embedding.ByteCount * (model.Weights.Config.TieWordEmbeddings ? 0 : 1);
        string placed = model.Weights.Resident ? "resident (huge-page arena)" : "mapped (file pages)";
        Console.WriteLine($"model {dir}: {dtype}, weights {placed}, KV cache {model.KvCacheDType}, {model.Weights.MatrixBytes / 1e6:F1} MB of matrices, {weightBytes / 1e6:F1} MB read per step; context {context}; {options.Reps} pairs per batch");
        Console.WriteLine("Each pair is one bandwidth reading (all kernel threads read a 1 GiB buffer) immediately followed by one decode step;");
        Console.WriteLine("step ÷ bound is the median over pairs of step × bandwidth ÷ bytes, so a neighbour's burst moves both alike.");
        Console.WriteLine();
        Console.WriteLine("| batch | step ms | tokens/s | bytes read / step (MB) | bandwidth GB/s | bound ms (bytes ÷ bandwidth) | step ÷ bound (median of pairs) | quartiles of pair ratios |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---|");
        if (batches.Count == 0) batches.AddRange([1, 8, 32]);
        foreach (int batch in batches)
        {
            long kvBytes = 2L * config.NumLayers * batch * (context + 1) * config.NumKvHeads * config.HeadDim * model.KvCacheDType.SizeInBytes();
            long bytes = weightBytes + kvBytes;
            var (steps, bandwidths) = DecodeSteps(model, config, batch, context, options.Reps, probe);
            var ratios = steps.Zip(bandwidths, (t, bw) => t * bw / bytes).ToArray();
            double step = Median(steps), bandwidth = Median(bandwidths);
            Array.Sort(ratios);
            double q1 = ratios[ratios.Length / 4], q3 = ratios[3 * ratios.Length / 4];
            Console.WriteLine($"| {batch} | {step * 1e3:F2} | {batch / step:F1} | {bytes / 1e6:F1} | {bandwidth / 1e9:F1} | {bytes / bandwidth * 1e3:F2} | {Median(ratios):F2} | {q1:F2}–{q3:F2} |");
        }
        Console.WriteLine();
        if (prefill == 0) return;
        double prefillSeconds = Prefill(model, config, prefill, options.Reps);
        Console.WriteLine($"prefill: {prefill} tokens in one sequence, {prefillSeconds * 1e3:F1} ms, {prefill / prefillSeconds:F0} tokens/s");
    }

    private static double Median(double[] values)
    {
        var sorted = (double[])values.Clone();
        Array.Sort(sorted);
        return sorted[sorted.Length / 2];
    }

    /// <summary>Step seconds and the bandwidth read just before each step, for <paramref name="reps"/> pairs (after 2 warm-up steps).</summary>
    private static (double[] Steps, double[] Bandwidths) DecodeSteps(LlamaModel model, ModelConfig config, int batch, int context, int reps, MemoryBandwidthBenchmark.Probe probe)
    {
        const int blockSize = 16;
        int steps = reps + 2;
        int blocksPerSeq = (context + steps + blockSize) / blockSize;
        using PagedKvCache cache = model.CreateKvCache(batch * blocksPerSeq, blockSize);
        var tables = new int[batch][];
        for (int s = 0; s < batch; s++) tables[s] = Enumerable.Range(s * blocksPerSeq, blocksPerSeq).ToArray();
        var rng = new Random(1);

        // Fill each sequence's KV with `context` tokens (prefill in one batch of all sequences).
        var prompt = new int[batch * context];
        for (int i = 0; i < prompt.Length; i++) prompt[i] = rng.Next(config.VocabSize);
        var seqs = new AttentionSequence[batch];
        for (int s = 0; s < batch; s++) seqs[s] = new AttentionSequence(s * context, context, 0, tables[s]);
        var logits = new float[batch * config.VocabSize];
        model.Forward(ForwardBatch.LastTokenLogits(prompt, seqs), cache, logits);

        // Decode steps: one token per sequence; the KV grows by one per step (negligible vs context).
        var times = new double[reps];
        var bandwidths = new double[reps];
        var tokens = new int[batch];
        for (int step = 0; step < steps; step++)
        {
            for (int s = 0; s < batch; s++)
            {
                tokens[s] = rng.Next(config.VocabSize);
                seqs[s] = new AttentionSequence(s, 1, context + step, tables[s]);
            }
            double bw = probe.MeasureOnce();
            var sw = Stopwatch.StartNew();
            model.Forward(ForwardBatch.LastTokenLogits(tokens, seqs), cache, logits);
            double seconds = sw.Elapsed.TotalSeconds;
            if (step < 2) continue;
            times[step - 2] = seconds;
            bandwidths[step - 2] = bw;
        }
        return (times, bandwidths);
    }

    private static double Prefill(LlamaModel model, ModelConfig config, int tokens, int reps)
    {
        const int blockSize = 16;
        int blocks = (tokens + blockSize - 1) / blockSize;
        using PagedKvCache cache = model.CreateKvCache(blocks, blockSize);
        var table = Enumerable.Range(0, blocks).ToArray();
        var rng = new Random(2);
        var prompt = new int[tokens];
        for (int i = 0; i < tokens; i++) prompt[i] = rng.Next(config.VocabSize);
        var logits = new float[config.VocabSize];
        var batch = ForwardBatch.LastTokenLogits(prompt, [new AttentionSequence(0, tokens, 0, table)]);
        return Timing.MedianSecondsPerCall(() => model.Forward(batch, cache, logits), Math.Max(3, reps / 2), minBatchSeconds: 0);
    }
}
