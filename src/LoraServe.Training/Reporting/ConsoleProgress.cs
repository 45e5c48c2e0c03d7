using Spectre.Console;

namespace LoraServe.Training.Reporting;

/// <summary>
/// The live progress bar of `loraserve train` on stderr (stdout stays clean for scripts): steps
/// done, current loss, tokens/s over the whole run, and Spectre's ETA from the step rate.
/// When stderr is not a terminal Spectre prints no animation; a plain line every few steps
/// keeps logs readable instead.
/// </summary>
public sealed class ConsoleProgress
{
    private readonly IAnsiConsole _console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });

    /// <summary>Runs <paramref name="step"/> until it returns null, updating the bar after each result.</summary>
    public void Run(int totalSteps, int completedSteps, Func<StepResult?> step)
    {
        long tokens = 0;
        double seconds = 0;
        if (!_console.Profile.Capabilities.Interactive)
        {
            while (step() is { } r)
            {
                tokens += r.Tokens;
                seconds += r.Seconds;
                if (r.Step % 10 == 0 || r.Step == totalSteps)
                    Console.Error.WriteLine($"step {r.Step}/{totalSteps} epoch {r.Epoch + 1} loss {r.Loss:F4} lr {r.LearningRate:G3} {tokens / seconds:F0} tok/s");
            }
            return;
        }
        _console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("training", maxValue: totalSteps);
                task.Value = completedSteps;
                while (step() is { } r)
                {
                    tokens += r.Tokens;
                    seconds += r.Seconds;
                    task.Description = $"step {r.Step}/{totalSteps} · epoch {r.Epoch + 1} · loss {r.Loss:F4} · {tokens / seconds:F0} tok/s";
                    task.Value = r.Step;
                }
            });
    }
}
