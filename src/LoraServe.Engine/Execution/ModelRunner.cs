using LoraServe.Core.Kernels;
using LoraServe.Core.Kv;
using LoraServe.Engine.Scheduling;
using LoraServe.Lora.Adapters;
using LoraServe.Lora.Execution;
using LoraServe.Models.Llama;

namespace LoraServe.Engine.Execution;

/// <summary>
/// Runs one scheduled step on the model (DESIGN §3 "ModelRunner"): flattens every chunk's tokens
/// into one batch with the rows of each adapter contiguous (so the segmented LoRA kernel reads
/// each adapter once and gathers nothing), runs <see cref="LlamaModel.Forward"/>, and samples each
/// sequence that reached its last token with its own seeded Random and sampling parameters.
/// Buffers are kept and reused across steps; ForwardBatch wants exact-length arrays, so those
/// are cached per length (decode steps repeat the same few sizes). Engine thread only.
///
/// A step the LoRA policy planned as merged (<see cref="SchedulerStep.MergedAdapter"/>) runs with
/// that adapter merged into the base weights and no per-row delta; the runner merges, unmerges and
/// switches as the plan changes (<see cref="AdapterMerger"/>), between steps, never during one.
/// <see cref="Dispose"/> unmerges, so the model's weights are the base weights again.
/// </summary>
public sealed class ModelRunner : IDisposable
{
    private readonly LlamaModel _model;
    private readonly PagedKvCache _cache;
    private readonly SegmentedLoraDelta _lora = new();
    private readonly Dictionary<int, int[]> _intArrays = [];
    private readonly Dictionary<int, AttentionSequence[]> _seqArrays = [];
    private readonly Dictionary<int, int[]> _rowArrays = [];
    private LoraAdapter?[] _rowAdapters = [];
    private int[] _order = [];
    private int[] _logitIndex = [];
    private float[] _logits = [];
    private SampledToken[] _results = [];
    private readonly AdapterMerger _merger;

    public ModelRunner(LlamaModel model, PagedKvCache cache)
    {
        _model = model;
        _cache = cache;
        _merger = new AdapterMerger(model.Weights);
    }

    public int VocabSize => _model.Config.VocabSize;

    /// <summary>The adapter merged into the weights now, or null.</summary>
    public LoraAdapter? MergedAdapter => _merger.Merged;

    /// <summary>The runner's merger (the start-up calibration warms its buffers).</summary>
    internal AdapterMerger Merger => _merger;

    /// <summary>Seconds the last step's forward took (merge/unmerge and sampling not included).</summary>
    public double LastForwardSeconds { get; private set; }

    /// <summary>Merges performed so far (including re-merges that only swapped the kept matrices back in).</summary>
    public long Merges { get; private set; }

    /// <summary>Called after each merge that computed W + s·B·A, with the adapter and the seconds it took (unmerging is free).</summary>
    public Action<LoraAdapter, double>? SwitchCompleted { get; set; }

    /// <summary>
    /// Computes the step; element i of the result belongs to step chunk i and is meaningful where
    /// that chunk samples. Valid until the next call.
    /// </summary>
    public ReadOnlySpan<SampledToken> Execute(SchedulerStep step)
    {
        var chunks = step.Chunks;
        int n = chunks.Count, tokens = step.TokenCount, vocab = _model.Config.VocabSize;
        // Every chunk of a merged step belongs to the merged adapter: the scheduler refuses any other plan.
        var merged = step.MergedAdapter;
        SwitchTo(merged);
        Grow(ref _order, n);
        Grow(ref _logitIndex, n);
        Grow(ref _results, n);
        Grow(ref _rowAdapters, tokens);
        OrderByAdapter(chunks, n);

        var ids = Exact(_intArrays, tokens);
        var seqs = Exact(_seqArrays, n);
        int samples = 0;
        for (int k = 0; k < n; k++) if (chunks[k].Samples) samples++;
        var rows = Exact(_rowArrays, samples);
        bool anyAdapter = false;
        int offset = 0, row = 0;
        for (int k = 0; k < n; k++)
        {
            var c = chunks[_order[k]];
            var src = c.Sequence.Tokens.Slice(c.Start, c.Count);
            src.CopyTo(ids.AsSpan(offset));
            var adapter = c.Sequence.Adapter;
            anyAdapter |= adapter is not null;
            _rowAdapters.AsSpan(offset, c.Count).Fill(adapter);
            seqs[k] = new AttentionSequence(offset, c.Count, c.Start, c.Sequence.Blocks.Array);
            if (c.Samples)
            {
                _logitIndex[_order[k]] = row;
                rows[row++] = offset + c.Count - 1;
            }
            offset += c.Count;
        }

        ILinearDelta? delta = null;
        if (anyAdapter && merged is null)
        {
            _lora.Configure(_rowAdapters.AsSpan(0, tokens));
            delta = _lora;
        }
        Grow(ref _logits, samples * vocab);
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        _model.Forward(new ForwardBatch(ids, seqs, rows) { Delta = delta }, _cache, _logits);
        LastForwardSeconds = System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds;

        for (int i = 0; i < n; i++)
        {
            var c = chunks[i];
            if (!c.Samples) continue;
            var logits = _logits.AsSpan(_logitIndex[i] * vocab, vocab);
            var options = c.Sequence.Request.Options;
            int token = Sampler.Sample(logits, options.Sampling, c.Sequence.Rng, out float logProb);
            var top = options.TopLogprobs > 0 ? TopLogprobs.Compute(logits, options.TopLogprobs) : null;
            _results[i] = new SampledToken(token, logProb, top);
        }
        _rowAdapters.AsSpan(0, tokens).Clear(); // drop references so unloaded adapters can be collected
        return _results.AsSpan(0, n);
    }

    private void SwitchTo(LoraAdapter? adapter)
    {
        if (ReferenceEquals(_merger.Merged, adapter)) return;
        if (_merger.Merged is not null) _merger.Unmerge();
        if (adapter is not null)
        {
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            _merger.Merge(adapter);
            Merges++;
            if (_merger.LastMergeComputed) SwitchCompleted?.Invoke(adapter, System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
    }

    /// <summary>Restores the base weights if an adapter is merged.</summary>
    public void Dispose() => _merger.Dispose();

    // Stable insertion sort of chunk indices by adapter identity (base rows first): batches hold at
    // most --max-num-seqs chunks, and a stable order keeps results independent of adapter hashing.
    private void OrderByAdapter(List<ScheduledChunk> chunks, int n)
    {
        int groups = 0;
        for (int i = 0; i < n; i++) _order[i] = i;
        Span<int> groupOf = n <= 256 ? stackalloc int[n] : new int[n];
        for (int i = 0; i < n; i++)
        {
            var a = chunks[i].Sequence.Adapter;
            int g = 0;
            if (a is not null)
            {
                g = -1;
                for (int j = 0; j < i; j++)
                    if (ReferenceEquals(chunks[j].Sequence.Adapter, a)) { g = groupOf[j]; break; }
                if (g < 0) g = ++groups;
            }
            groupOf[i] = g;
        }
        for (int i = 1; i < n; i++)
        {
            int x = _order[i], j = i - 1;
            while (j >= 0 && groupOf[_order[j]] > groupOf[x]) { _order[j + 1] = _order[j]; j--; }
            _order[j + 1] = x;
        }
    }

    private static T[] Exact<T>(Dictionary<int, T[]> cache, int length)
    {
        if (!cache.TryGetValue(length, out var a)) cache[length] = a = new T[length];
        return a;
    }

    private static void Grow<T>(ref T[] buffer, int size)
    {
        if (buffer.Length < size) Array.Resize(ref buffer, Math.Max(size, buffer.Length * 2));
    }
}
