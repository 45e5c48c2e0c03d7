namespace LoraServe.Server.Metrics;

/// <summary>A Prometheus histogram: cumulative bucket counts at fixed upper bounds, a sum and a count. Thread-safe.</summary>
public sealed class Histogram(IReadOnlyList<double> upperBounds)
{
    private readonly object _gate = new();
    private readonly long[] _counts = new long[upperBounds.Count];
    private double _sum;
    private long _count;

    public IReadOnlyList<double> UpperBounds { get; } = upperBounds;

    public void Observe(double value)
    {
        lock (_gate)
        {
            for (int i = 0; i < _counts.Length; i++)
                if (value <= UpperBounds[i]) _counts[i]++;
            _sum += value;
            _count++;
        }
    }

    /// <summary>A consistent copy: cumulative counts per bound, sum, count.</summary>
    public (long[] Cumulative, double Sum, long Count) Snapshot()
    {
        lock (_gate) return ((long[])_counts.Clone(), _sum, _count);
    }
}
