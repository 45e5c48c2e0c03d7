using System.Diagnostics;

namespace LoraServe.Cli.Tests;

/// <summary>Runs the built `loraserve` as a separate process, exactly as a user would.</summary>
internal static class CliRunner
{
    public static (int ExitCode, string Stdout, string Stderr) Run(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("exec");
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "loraserve.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"loraserve {string.Join(' ', args)} did not finish in 120 s");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
