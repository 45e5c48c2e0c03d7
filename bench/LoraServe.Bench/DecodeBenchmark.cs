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
/// --batch N (repeatable; default 1, 8 and 32), --weights auto|mapped|resident (default auto: see WeightPlacement),
/// --phases (also print where each step's time goes, from LlamaModel.Profile: medians per phase, and the
/// read rate of each projection phase against the paired bandwidth reading).
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
        bool phases = options.Rest.Contains("--phases");
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
        Console.WriteLine($"Each pair is one bandwidth reading (all kernel threads read a 1 GiB buffer) immediately followed by {StepsPerReading} decode steps back to back;");
        Console.WriteLine("a pair's step is the median of the steps after the first (the first pays for the reading's flush of the caches and is reported apart);");
        Console.WriteLine("step ÷ bound is the median over pairs of step × bandwidth ÷ bytes, so a neighbour's burst moves both alike.");
        Console.WriteLine();
        Console.WriteLine("| batch | step ms | tokens/s | bytes read / step (MB) | bandwidth GB/s | bound ms (bytes ÷ bandwidth) | step ÷ bound (median of pairs) | quartiles of pair ratios | first step after the reading: ms, ÷ bound |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---|---:|");
        if (batches.Count == 0) batches.AddRange([1, 8, 32]);
        var phaseTables = new List<string>();
        foreach (int batch in batches)
        {
            long kvBytes = 2L * config.NumLayers * batch * (context + 1) * config.NumKvHeads * config.HeadDim * model.KvCacheDType.SizeInBytes();
            long bytes = weightBytes + kvBytes;
            var (steps, firstSteps, bandwidths, phaseSeconds) = DecodeSteps(model, config, batch, context, options.Reps, probe, phases);
            if (phases) phaseTables.Add(PhaseTable(model, batch, kvBytes, steps, bandwidths, phaseSeconds!));
            var ratios = steps.Zip(bandwidths, (t, bw) => t * bw / bytes).ToArray();
            var firstRatios = firstSteps.Zip(bandwidths, (t, bw) => t * bw / bytes).ToArray();
            double step = Median(steps), bandwidth = Median(bandwidths);
            Array.Sort(ratios);
            double q1 = ratios[ratios.Length / 4], q3 = ratios[3 * ratios.Length / 4];
            Console.WriteLine($"| {batch} | {step * 1e3:F2} | {batch / step:F1} | {bytes / 1e6:F1} | {bandwidth / 1e9:F1} | {bytes / bandwidth * 1e3:F2} | {Median(ratios):F2} | {q1:F2}–{q3:F2} | {Median(firstSteps) * 1e3:F2}, {Median(firstRatios):F2} |");
        }
        Console.WriteLine();
        foreach (string table in phaseTables) Console.WriteLine(table);
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

    /// <summary>
    /// Per phase: the median of its seconds per step and its share of the median step; for a projection
    /// phase also the bytes it reads per step and its read rate as a fraction of the paired bandwidth
    /// reading (median over steps of bytes ÷ phase time ÷ bandwidth).
    /// </summary>
    private static string PhaseTable(LlamaModel model, int batch, long kvBytes, double[] steps, double[] bandwidths, double[][] phaseSeconds)
    {
        var w = model.Weights;
        long Sum(Func<LlamaLayerWeights, long> bytes) => w.Layers.Sum(bytes);
        var phaseBytes = new Dictionary<ForwardPhase, long>
        {
            [ForwardPhase.QkvProjection] = Sum(l => l.Q.ByteCount + l.K.ByteCount + l.V.ByteCount),
            [ForwardPhase.OutputProjection] = Sum(l => l.O.ByteCount),
            [ForwardPhase.GateUpProjection] = Sum(l => l.Gate.ByteCount + l.Up.ByteCount),
            [ForwardPhase.DownProjection] = Sum(l => l.Down.ByteCount),
            [ForwardPhase.LmHead] = w.LmHead.ByteCount,
            [ForwardPhase.Attention] = kvBytes,
        };
        var table = new System.Text.StringBuilder();
        table.AppendLine($"batch {batch}, where a step goes (median over {steps.Length} steps; median step {Median(steps) * 1e3:F2} ms):");
        table.AppendLine();
        table.AppendLine("| phase | ms per step | share of step | MB read per step | read rate ÷ paired bandwidth |");
        table.AppendLine("|---|---:|---:|---:|---:|");
        foreach (var phase in Enum.GetValues<ForwardPhase>())
        {
            var seconds = phaseSeconds.Select(p => p[(int)phase]).ToArray();
            string rate = "", megabytes = "";
            if (phaseBytes.TryGetValue(phase, out long bytes))
            {
                megabytes = $"{bytes / 1e6:F1}";
                rate = $"{Median(seconds.Select((t, i) => bytes / t / bandwidths[i]).ToArray()):F2}";
            }
            table.AppendLine($"| {phase} | {Median(seconds) * 1e3:F3} | {Median(seconds) / Median(steps):P0} | {megabytes} | {rate} |");
        }
        return table.ToString();
    }

    /// <summary>Decode steps run back to back after each bandwidth reading: the first pays for the reading's flush of the caches.</summary>
    private const int StepsPerReading = 4;

    /// <summary>
    /// For <paramref name="reps"/> bandwidth readings (after 2 warm-up readings), each followed by
    /// <see cref="StepsPerReading"/> decode steps back to back: the median seconds of the steps after
    /// the first (decode as a server runs it, one step after another), the seconds of the first
    /// (cold: the 1 GiB reading has just evicted the caches), and the reading; with
    /// <paramref name="phases"/>, also the back-to-back steps' mean seconds per <see cref="ForwardPhase"/>.
    /// </summary>
    private static (double[] Steps, double[] FirstSteps, double[] Bandwidths, double[][]? PhaseSeconds) DecodeSteps(LlamaModel model, ModelConfig config, int batch, int context, int reps,
        MemoryBandwidthBenchmark.Probe probe, bool phases)
    {
        const int blockSize = 16;
        int readings = reps + 2;
        int blocksPerSeq = (context + readings * StepsPerReading + blockSize) / blockSize;
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
        var firstTimes = new double[reps];
        var bandwidths = new double[reps];
        var phaseSeconds = phases ? new double[reps][] : null;
        var profile = new ForwardProfile();
        var tokens = new int[batch];
        var stepSeconds = new double[StepsPerReading];
        int position = context;
        for (int reading = 0; reading < readings; reading++)
        {
            double bw = probe.MeasureOnce();
            profile.Reset();
            for (int k = 0; k < StepsPerReading; k++, position++)
            {
                for (int s = 0; s < batch; s++)
                {
                    tokens[s] = rng.Next(config.VocabSize);
                    seqs[s] = new AttentionSequence(s, 1, position, tables[s]);
                }
                model.Profile = phases && k > 0 ? profile : null;
                var sw = Stopwatch.StartNew();
                model.Forward(ForwardBatch.LastTokenLogits(tokens, seqs), cache, logits);
                stepSeconds[k] = sw.Elapsed.TotalSeconds;
                model.Profile = null;
            }
            if (reading < 2) continue;
            int r = reading - 2;
            firstTimes[r] = stepSeconds[0];
            times[r] = Median(stepSeconds[1..]);
            bandwidths[r] = bw;
            if (phaseSeconds is not null) phaseSeconds[r] = Enum.GetValues<ForwardPhase>().Select(p => profile[p].TotalSeconds / (StepsPerReading - 1)).ToArray();
        }
        return (times, firstTimes, bandwidths, phaseSeconds);
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
