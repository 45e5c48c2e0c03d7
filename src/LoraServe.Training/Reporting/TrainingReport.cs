using System.Text.Json;
using System.Text.Json.Nodes;

namespace LoraServe.Training.Reporting;

/// <summary>
/// The files written next to the adapter: training_log.jsonl (one line per step), eval_results.json
/// (per-epoch eval loss and perplexity) and loss_curve.png.
/// </summary>
public static class TrainingReport
{
    public const string LogFile = "training_log.jsonl";
    public const string EvalFile = "eval_results.json";
    public const string PlotFile = "loss_curve.png";

    private static readonly JsonSerializerOptions Snake = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = false };

    public static void Write(string directory, IReadOnlyList<StepResult> steps, IReadOnlyList<EpochEvaluation> evals, string title)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllLines(Path.Combine(directory, LogFile), steps.Select(s => JsonSerializer.Serialize(s, Snake)));
        var evalJson = new JsonArray([.. evals.Select(e => JsonSerializer.SerializeToNode(e, Snake))]);
        File.WriteAllText(Path.Combine(directory, EvalFile), evalJson.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        LossCurvePlot.Save(Path.Combine(directory, PlotFile), steps, evals, title);
    }
}
