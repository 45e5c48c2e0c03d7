using System.Text.Json;
using System.Text.Json.Serialization;

namespace LoraServe.Engine.Workload;

/// <summary>How prompt or output lengths are drawn: fixed, uniform in [Min, Max], or replayed from a JSONL file.</summary>
public sealed record LengthDistribution
{
    [JsonConverter(typeof(JsonStringEnumConverter<LengthKind>))]
    public LengthKind Kind { get; init; } = LengthKind.Fixed;

    /// <summary>Fixed length, or the lower bound of a uniform draw.</summary>
    public int Min { get; init; } = 16;

    /// <summary>Upper bound (inclusive) of a uniform draw.</summary>
    public int Max { get; init; } = 16;

    /// <summary>JSONL file: one object per line with the field named <see cref="Field"/> (e.g. {"prompt_len": 120, "output_len": 43}).</summary>
    public string? Path { get; init; }

    public string? Field { get; init; }

    public static LengthDistribution Fixed(int n) => new() { Kind = LengthKind.Fixed, Min = n, Max = n };

    public static LengthDistribution Uniform(int min, int max) => new() { Kind = LengthKind.Uniform, Min = min, Max = max };

    /// <summary>A sampler over this distribution; a JSONL file is read once, then cycled through in order.</summary>
    public Func<Random, int> CreateSampler()
    {
        switch (Kind)
        {
            case LengthKind.Fixed:
                if (Min < 1) throw new ArgumentException($"fixed length must be ≥ 1, got {Min}");
                return _ => Min;
            case LengthKind.Uniform:
                if (Min < 1 || Max < Min) throw new ArgumentException($"uniform lengths need 1 ≤ min ≤ max, got [{Min}, {Max}]");
                return rng => rng.Next(Min, Max + 1);
            case LengthKind.Jsonl:
                var values = ReadJsonl(Path ?? throw new ArgumentException("a jsonl length distribution needs a path"), Field ?? throw new ArgumentException("a jsonl length distribution needs a field name"));
                int next = 0;
                return _ => values[next++ % values.Length];
            default:
                throw new ArgumentOutOfRangeException(nameof(Kind), Kind, null);
        }
    }

    private static int[] ReadJsonl(string path, string field)
    {
        var values = new List<int>();
        int line = 0;
        foreach (var text in File.ReadLines(path))
        {
            line++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            using var doc = JsonDocument.Parse(text);
            if (!doc.RootElement.TryGetProperty(field, out var v) || !v.TryGetInt32(out int n) || n < 1)
                throw new FormatException($"{path}:{line}: expected a positive integer field \"{field}\"");
            values.Add(n);
        }
        if (values.Count == 0) throw new FormatException($"{path}: no lengths");
        return [.. values];
    }
}

public enum LengthKind
{
    Fixed,
    Uniform,
    Jsonl,
}
