using System.Diagnostics;
using LoraServe.Core.Kernels;
using LoraServe.Engine.Workload;
using LoraServe.Lora.Adapters;
using LoraServe.Lora.Execution;
using LoraServe.Models.Llama;

namespace LoraServe.Engine.LoraBatching;

/// <summary>
/// Measures the <see cref="LoraCostModel"/> on this machine when the engine starts (DESIGN §5.2:
/// no constants from the paper). On a scratch KV cache it times decode steps of the model itself:
/// <list type="number">
/// <item>base steps at batch 1 and batch B — two points of base(t);</item>
/// <item>unmerged steps at batch B with one random rank-r adapter on every row, and with n adapters
/// sharing the rows — the per-row and per-adapter byte terms (two equations, two unknowns);</item>
/// <item>merges of a rank-1 and a rank-r adapter on every projection (alternating, so each one
/// computes) — the per-element and per-MAC switch terms.</item>
/// </list>
/// Each time is the median of five reps after three untimed ones (the JIT's first tier ran base
/// steps at batch 1 four times slower than later ones and flattened the base curve). On the
/// SmolLM2-135M shape this takes one to two seconds; every real step refines it afterwards.
/// The weights are what they were when it returns (merges never write the base matrices).
/// </summary>
public static class LoraCostCalibration
{
    public sealed record Settings
    {
        /// <summary>B: the batch of the unmerged and larger base measurement (≥ 2).</summary>
        public int Batch { get; init; } = 8;

        /// <summary>n: distinct adapters of the second unmerged measurement (2 ≤ n ≤ B).</summary>
        public int Adapters { get; init; } = 4;

        public int Rank { get; init; } = 8;

        /// <summary>Tokens of context each scratch sequence has when the decode steps are timed.</summary>
        public int Context { get; init; } = 16;

        public int Reps { get; init; } = 5;

        /// <summary>Untimed runs before each measurement: the JIT's first tier is several times slower.</summary>
        public int Warmup { get; init; } = 3;

        public void Validate()
        {
            if (Batch < 2 || Adapters < 2 || Adapters > Batch) throw new ArgumentException($"calibration needs batch ≥ 2 and 2 ≤ adapters ≤ batch, got batch {Batch}, adapters {Adapters}");
            if (Rank < 2 || Context < 1 || Reps < 1) throw new ArgumentException($"calibration needs rank ≥ 2, context ≥ 1, reps ≥ 1, got {Rank}, {Context}, {Reps}");
        }
    }

    /// <param name="model">the model, its weights as they are served</param>
    /// <param name="settings">measurement sizes</param>
    /// <param name="merger">
    /// the merger the engine will use: its buffers for merged matrices are then allocated and
    /// first touched here (every projection: the calibration adapters target all of them), so the
    /// first real merge costs what later ones do — on the 135M shape ~0.3 s instead of ~1 s of fresh
    /// page faults. Null: a merger of its own, freed on return.
    /// </param>
    public static LoraCostModel Measure(LlamaModel model, Settings? settings = null, AdapterMerger? merger = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var s = settings ?? new Settings();
        s.Validate();
        var config = model.Config;
        int b = s.Batch, steps = 4 * (s.Reps + 1) + 2;
        const int blockSize = 16;
        int blocksPerSeq = (s.Context + steps + blockSize - 1) / blockSize + 1;
        using var cache = model.CreateKvCache(b * blocksPerSeq, blockSize);
        var tables = new int[b][];
        for (int i = 0; i < b; i++) tables[i] = Enumerable.Range(i * blocksPerSeq, blocksPerSeq).ToArray();
        var rng = new Random(12345);
        var positions = new int[b];
        var logits = new float[b * config.VocabSize];

        // Fill every sequence's context in one prefill.
        var prompt = new int[b * s.Context];
        for (int i = 0; i < prompt.Length; i++) prompt[i] = rng.Next(config.VocabSize);
        var prefill = new AttentionSequence[b];
        for (int i = 0; i < b; i++) prefill[i] = new AttentionSequence(i * s.Context, s.Context, 0, tables[i]);
        model.Forward(ForwardBatch.LastTokenLogits(prompt, prefill), cache, logits);
        Array.Fill(positions, s.Context);

        var kinds = LinearKinds.All;
        var adapters = new LoraAdapter[s.Adapters];
        for (int i = 0; i < adapters.Length; i++) adapters[i] = BenchAdapters.CreateRandom(config, $"calibration-{i}", s.Rank, kinds, 1000 + i);
        long bytes = adapters[0].ByteCount;
        var delta = new SegmentedLoraDelta();

        double Decode(int batch, Func<int, LoraAdapter?> adapterOfRow)
        {
            var tokens = new int[batch];
            var seqs = new AttentionSequence[batch];
            var rows = new LoraAdapter?[batch];
            bool any = false;
            for (int i = 0; i < batch; i++)
            {
                tokens[i] = rng.Next(config.VocabSize);
                seqs[i] = new AttentionSequence(i, 1, positions[i]++, tables[i]);
                rows[i] = adapterOfRow(i);
                any |= rows[i] is not null;
            }
            ILinearDelta? d = null;
            if (any)
            {
                delta.Configure(rows);
                d = delta;
            }
            long start = Stopwatch.GetTimestamp();
            model.Forward(new ForwardBatch(tokens, seqs, Enumerable.Range(0, batch).ToArray()) { Delta = d }, cache, logits);
            return Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        double Median(Func<double> run)
        {
            for (int w = 0; w < s.Warmup; w++) run();
            var t = new double[s.Reps];
            for (int r = 0; r < t.Length; r++) t[r] = run();
            Array.Sort(t);
            return t[t.Length / 2];
        }

        int rowsPerAdapter = (b + s.Adapters - 1) / s.Adapters;
        double base1 = Median(() => Decode(1, _ => null));
        double baseB = Median(() => Decode(b, _ => null));
        double oneAdapter = Median(() => Decode(b, _ => adapters[0]));
        double nAdapters = Median(() => Decode(b, i => adapters[Math.Min(i / rowsPerAdapter, adapters.Length - 1)]));

        // e1 = c_b·bytes + c_r·B·bytes; en = c_b·n·bytes + c_r·B·bytes (n distinct, B rows in both).
        double e1 = Math.Max(0, oneAdapter - baseB), en = Math.Max(0, nAdapters - baseB);
        double perAdapterByte = Math.Max(0, (en - e1) / ((s.Adapters - 1) * (double)bytes));
        double perRowByte = Math.Max(0, (e1 - perAdapterByte * bytes) / ((double)b * bytes));
        if (perAdapterByte == 0 && perRowByte == 0)
            perRowByte = Math.Max(e1, 0.01 * baseB) / ((double)b * bytes); // noise ate the difference: keep a small, positive LoRA cost

        var (perElement, perMac) = MeasureSwitch(model, s, merger);
        double ratio = Math.Clamp(baseB / Math.Max(nAdapters, 1e-9), 0.05, 1);
        return new LoraCostModel(
            [(1, base1), (b, Math.Max(baseB, base1))],
            new LoraCostModel.LoraTerms(0, perAdapterByte, perRowByte),
            new LoraCostModel.SwitchTerms(0, perElement, perMac),
            ratio);
    }

    private static (double PerElement, double PerMac) MeasureSwitch(LlamaModel model, Settings s, AdapterMerger? engineMerger)
    {
        var config = model.Config;
        var kinds = LinearKinds.All; // as the unmerged measurement: per-module overheads count too
        var rank1 = BenchAdapters.CreateRandom(config, "calibration-r1", 1, kinds, 2001);
        var rankR = BenchAdapters.CreateRandom(config, "calibration-rr", s.Rank, kinds, 2002);
        using var own = engineMerger is null ? new AdapterMerger(model.Weights) : null;
        var merger = engineMerger ?? own!;
        double Switch(LoraAdapter a)
        {
            long start = Stopwatch.GetTimestamp();
            merger.Merge(a);
            merger.Unmerge();
            return Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        Switch(rankR); // warm-up: JIT and the merger's buffers
        double t1 = double.MaxValue, tr = double.MaxValue;
        for (int r = 0; r < Math.Max(2, s.Reps - 1); r++)
        {
            t1 = Math.Min(t1, Switch(rank1));
            tr = Math.Min(tr, Switch(rankR));
        }
        var p = AdapterProfile.Of(rankR);
        double elements = p.MergeElements;
        double perMac = Math.Max(0, (tr - t1) / (elements * (s.Rank - 1)));
        double perElement = Math.Max(0, (t1 - perMac * elements) / elements);
        if (perMac == 0 && perElement == 0) perElement = tr / elements;
        return (perElement, perMac);
    }
}
