using LoraServe.Core.Tensors;
using LoraServe.Lora.Adapters;
using LoraServe.Models.Safetensors;
using LoraServe.Training.Model;

namespace LoraServe.Training;

/// <summary>Writes what a run produced in the formats the server loads.</summary>
public static class AdapterExport
{
    /// <summary>A PEFT adapter directory (adapter_config.json + adapter_model.safetensors) via the same writer the server's tests use.</summary>
    public static void WriteAdapter(string directory, LoraSet lora, string baseModelNameOrPath, string name = "adapter") =>
        PeftAdapterWriter.Write(directory, lora.ToAdapter(name), lora.Alpha, lora.UseRsLora, baseModelNameOrPath);

    /// <summary>
    /// A full-parameter run's weights as an HF model directory: model.safetensors in
    /// <paramref name="dtype"/> with HF tensor names, and config/tokenizer files copied from the base.
    /// </summary>
    public static void WriteModel(string directory, FullParameters full, string baseModelDirectory, DType dtype)
    {
        Directory.CreateDirectory(directory);
        var writer = new SafetensorsWriter(new Dictionary<string, string> { ["format"] = "pt" });
        foreach (var t in full.Tensors) writer.Add(t.Name, dtype, t.Shape, t.Values);
        writer.Save(Path.Combine(directory, TensorStore.SingleFileName));
        foreach (var file in new[] { "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json" })
        {
            string src = Path.Combine(baseModelDirectory, file);
            if (File.Exists(src) && Path.GetFullPath(src) != Path.GetFullPath(Path.Combine(directory, file))) File.Copy(src, Path.Combine(directory, file), overwrite: true);
        }
    }
}
