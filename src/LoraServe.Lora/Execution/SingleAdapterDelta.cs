using LoraServe.Lora.Adapters;
using LoraServe.Models.Llama;

namespace LoraServe.Lora.Execution;

/// <summary>
/// Every row of the step uses one adapter (a single request, as `loraserve generate --adapter`
/// runs): the segmented delta with one segment that always spans the whole batch.
/// </summary>
public sealed class SingleAdapterDelta(LoraAdapter adapter) : ILinearDelta
{
    private readonly SegmentedLoraDelta _inner = new(maxAdapters: 1);
    private readonly LoraAdapter?[] _rows = new LoraAdapter?[1];
    private int _configuredRows;

    public LoraAdapter Adapter { get; } = adapter;

    public void Apply(int layer, LinearKind kind, ReadOnlySpan<float> x, Span<float> y, int tokens)
    {
        if (tokens != _configuredRows)
        {
            var rows = tokens <= _rows.Length ? _rows.AsSpan(0, tokens) : new LoraAdapter?[tokens];
            rows.Fill(Adapter);
            _inner.Configure(rows);
            _configuredRows = tokens;
        }
        _inner.Apply(layer, kind, x, y, tokens);
    }
}
