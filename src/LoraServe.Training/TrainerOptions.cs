using LoraServe.Models.Llama;

namespace LoraServe.Training;

/// <summary>Hyper-parameters of one run; the CLI flags of `loraserve train` map onto these one to one.</summary>
public sealed record TrainerOptions
{
    /// <summary>Full-parameter mode (every weight trained, float32 master copies) instead of LoRA.</summary>
    public bool FullParameter { get; init; }
    public int Rank { get; init; } = 8;
    public double Alpha { get; init; } = 16;
    public bool UseRsLora { get; init; }
    public IReadOnlyList<LinearKind> Targets { get; init; } = [LinearKind.Q, LinearKind.V];
    public double LearningRate { get; init; } = 2e-4;
    public int Epochs { get; init; } = 1;
    public int BatchSize { get; init; } = 4;
    public int GradAccum { get; init; } = 1;
    public int MaxSeqLen { get; init; } = 256;
    public ulong Seed { get; init; } = 42;
    public double WarmupRatio { get; init; } = 0.03;
    public double WeightDecay { get; init; }
    public double MaxGradNorm { get; init; } = 1.0;

    public void Validate()
    {
        if (Rank <= 0) throw new ArgumentException($"--rank must be positive, got {Rank}");
        if (Alpha <= 0) throw new ArgumentException($"--alpha must be positive, got {Alpha}");
        if (Targets.Count == 0 && !FullParameter) throw new ArgumentException("--target-modules names no module");
        if (!(LearningRate > 0)) throw new ArgumentException($"--lr must be positive, got {LearningRate}");
        if (Epochs <= 0) throw new ArgumentException($"--epochs must be positive, got {Epochs}");
        if (BatchSize <= 0) throw new ArgumentException($"--batch-size must be positive, got {BatchSize}");
        if (GradAccum <= 0) throw new ArgumentException($"--grad-accum must be positive, got {GradAccum}");
        if (MaxSeqLen < 2) throw new ArgumentException($"--max-seq-len must be at least 2, got {MaxSeqLen}");
        if (WarmupRatio is < 0 or > 1) throw new ArgumentException($"--warmup-ratio must be in [0, 1], got {WarmupRatio}");
    }

    /// <summary>Parses --target-modules: "all-linear" or a comma-separated list of HF module names.</summary>
    public static IReadOnlyList<LinearKind> ParseTargets(string text)
    {
        if (text.Trim() == "all-linear") return LinearKinds.All;
        var kinds = new List<LinearKind>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!LinearKinds.TryParse(part, out var k))
                throw new ArgumentException($"--target-modules: '{part}' is not one of {string.Join(", ", LinearKinds.All.Select(x => x.ModuleName()))} or all-linear");
            if (!kinds.Contains(k)) kinds.Add(k);
        }
        return kinds;
    }
}
