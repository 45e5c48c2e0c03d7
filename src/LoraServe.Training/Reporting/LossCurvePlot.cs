using ScottPlot;

namespace LoraServe.Training.Reporting;

/// <summary>
/// The loss curve as a PNG (ScottPlot over SkiaSharp's self-contained Linux native assets, so it
/// renders headless on a server with no X or fontconfig): training loss per step, and eval loss
/// per epoch when there is one.
/// </summary>
public static class LossCurvePlot
{
    public static void Save(string path, IReadOnlyList<StepResult> steps, IReadOnlyList<EpochEvaluation> evals, string title)
    {
        var plot = new Plot();
        if (steps.Count > 0)
        {
            var train = plot.Add.Scatter(steps.Select(s => (double)s.Step).ToArray(), steps.Select(s => s.Loss).ToArray());
            train.LegendText = "train loss";
            train.MarkerSize = steps.Count > 60 ? 0 : 4;
        }
        if (evals.Count > 0)
        {
            var eval = plot.Add.Scatter(evals.Select(e => (double)e.Step).ToArray(), evals.Select(e => e.Loss).ToArray());
            eval.LegendText = "eval loss";
            eval.MarkerSize = 8;
        }
        plot.Title(title);
        plot.XLabel("optimizer step");
        plot.YLabel("cross-entropy (nats / token)");
        plot.ShowLegend();
        plot.SavePng(path, 900, 540);
    }
}
