using LoraServe.Core.Tensors;
using LoraServe.Models.Creation;

namespace LoraServe.Cli;

/// <summary>
/// The model used when no --model is given: a tiny random Llama with a working tokenizer,
/// created once under $XDG_CACHE_HOME/loraserve (or ~/.cache/loraserve) so a fresh clone runs.
/// </summary>
internal static class DefaultModel
{
    public const string ShapeName = "tiny";
    public const int Seed = 1234;

    public static string Directory
    {
        get
        {
            string cache = Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg
                ? xdg
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
            return Path.Combine(cache, "loraserve", $"default-{ShapeName}-{Seed}");
        }
    }

    /// <summary>Returns the default model's directory, writing it first if absent (atomically: temp dir, then rename).</summary>
    public static string EnsureCreated(TextWriter log)
    {
        string dir = Directory;
        if (File.Exists(Path.Combine(dir, "config.json"))) return dir;
        log.WriteLine($"creating the default model ({ShapeName}, seed {Seed}) in {dir}");
        string temp = dir + ".tmp-" + Environment.ProcessId;
        ModelDirectoryWriter.Write(temp, ShapeName, Seed, DType.BF16, shards: 1);
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(dir)!);
        try
        {
            System.IO.Directory.Move(temp, dir);
        }
        catch (IOException) when (File.Exists(Path.Combine(dir, "config.json")))
        {
            // Another process created it first; theirs is identical (same shape and seed).
            System.IO.Directory.Delete(temp, recursive: true);
        }
        return dir;
    }
}
