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
/// Options: --dtype BF16|F32 (default BF16), --context N (default 256), --prefill N (default 512).
/// </summary>
public sealed class DecodeBenchmark : IBenchmark
{
    public string Name => "decode";

    public string Description => "decode tokens/s at batch 1/8/32 and prefill tokens/s on the SmolLM2-135M shape, vs memory bandwidth";

    public void Run(BenchOptions options)
    {
        var dtype = DType.BF16;
        int context = 256, prefill = 512;
        for (int i = 0; i < options.Rest.Count - 1; i++)
        {
            if (options.Rest[i] == "--dtype") dtype = Enum.Parse<DType>(options.Rest[i + 1], ignoreCase: true);
            if (options.Rest[i] == "--context") context = int.Parse(options.Rest[i + 1]);
            if (options.Rest[i] == "--prefill") prefill = int.Parse(options.Rest[i + 1]);
        }
        string dir = BenchModels.SmolLM2(dtype);
        var config = ModelConfigLoader.Load(dir);
        using var model = new LlamaModel(LlamaWeightsLoader.Load(dir, config));
        double bandwidth = MemoryBandwidthBenchmark.Measure(options.Reps);
        long weightBytes = model.Weights.MatrixBytes - model.Weights.Embedding.ByteCount * (model.Weights.Config.TieWordEmbeddings ? 0 : 1);
        Console.WriteLine($"model {dir}: {dtype}, {model.Weights.MatrixBytes / 1e6:F1} MB of matrices; measured read bandwidth {bandwidth / 1e9:F2} GB/s; context {context}; median of {options.Reps} reps");
        Console.WriteLine();
        Console.WriteLine("| batch | step ms | tokens/s | bytes read / step (MB) | bound ms (bytes ÷ bandwidth) | step ÷ bound |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|");
        foreach (int batch in new[] { 1, 8, 32 })
        {
            double seconds = DecodeStep(model, config, batch, context, options.Reps);
            // A decode step reads every projection and lm_head once (the tied embedding is lm_head;
            // embedding lookups touch `batch` rows only) plus each sequence's K and V for every layer.
            long kvBytes = 2L * config.NumLayers * batch * (context + 1) * config.NumKvHeads * config.HeadDim * sizeof(float);
            long bytes = weightBytes + kvBytes;
            double bound = bytes / bandwidth;
            Console.WriteLine($"| {batch} | {seconds * 1e3:F2} | {batch / seconds:F1} | {bytes / 1e6:F1} | {bound * 1e3:F2} | {seconds / bound:F2} |");
        }
        Console.WriteLine();
        double prefillSeconds = Prefill(model, config, prefill, options.Reps);
        Console.WriteLine($"prefill: {prefill} tokens in one sequence, {prefillSeconds * 1e3:F1} ms, {prefill / prefillSeconds:F0} tokens/s");
    }

    private static double DecodeStep(LlamaModel model, ModelConfig config, int batch, int context, int reps)
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
        var samples = new double[steps];
        var tokens = new int[batch];
        for (int step = 0; step < steps; step++)
        {
            for (int s = 0; s < batch; s++)
            {
                tokens[s] = rng.Next(config.VocabSize);
                seqs[s] = new AttentionSequence(s, 1, context + step, tables[s]);
            }
            var sw = Stopwatch.StartNew();
            model.Forward(ForwardBatch.LastTokenLogits(tokens, seqs), cache, logits);
            samples[step] = sw.Elapsed.TotalSeconds;
        }
        var timed = samples[2..];
        Array.Sort(timed);
        return timed[timed.Length / 2];
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
