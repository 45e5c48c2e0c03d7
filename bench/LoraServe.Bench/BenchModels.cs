using LoraServe.Core.Tensors;
using LoraServe.Models.Creation;

namespace LoraServe.Bench;

/// <summary>Real-format model directories for benchmarks, written once under the temp folder and reused.</summary>
public static class BenchModels
{
    /// <summary>The SmolLM2-135M shape with seeded random weights (no tokenizer: benchmarks feed token ids).</summary>
    public static string SmolLM2(DType dtype)
    {
        string dir = Path.Combine(Path.GetTempPath(), "loraserve-bench", $"smollm2-135m-{dtype}");
        if (File.Exists(Path.Combine(dir, "config.json"))) return dir;
        Console.Error.WriteLine($"writing the smollm2-135m shape ({dtype}) to {dir}");
        string temp = dir + ".tmp-" + Environment.ProcessId;
        RandomModelWriter.Write(temp, ModelShape.SmolLM2_135M(), seed: 7, dtype);
        Directory.Move(temp, dir);
        return dir;
    }
}
