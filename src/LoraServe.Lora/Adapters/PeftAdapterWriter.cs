using System.Text.Json.Nodes;
using LoraServe.Core.Tensors;
using LoraServe.Models.Llama;
using LoraServe.Models.Safetensors;

namespace LoraServe.Lora.Adapters;

/// <summary>
/// Writes a <see cref="LoraAdapter"/> as the directory HF PEFT's save_pretrained produces:
/// adapter_config.json (peft_type LORA, task_type CAUSAL_LM, r, lora_alpha, target_modules …) and
/// adapter_model.safetensors with PEFT tensor names, so PEFT and this engine both load it.
/// </summary>
public static class PeftAdapterWriter
{
    /// <param name="alpha">lora_alpha; every module's scale must equal α/r (or α/√r with rsLoRA) for its rank.</param>
    public static void Write(string directory, LoraAdapter adapter, double alpha, bool useRsLora, string baseModelNameOrPath, DType dtype = DType.F32)
    {
        var ranks = adapter.Modules.Select(m => m.Rank).Distinct().ToArray();
        int rank = ranks.GroupBy(r => r).OrderByDescending(g => g.Count()).First().Key;
        var rankPattern = new JsonObject();
        foreach (var m in adapter.Modules)
        {
            if (Math.Abs(m.Scale - LoraModule.ScaleFor(alpha, m.Rank, useRsLora)) > 1e-6 * Math.Abs(m.Scale))
                throw new ArgumentException($"module layer {m.Layer} {m.Kind.ModuleName()} has scale {m.Scale}, not lora_alpha {alpha} over its rank {m.Rank}");
            if (m.Rank != rank) rankPattern[$"model.layers.{m.Layer}.{m.Kind.ModulePath()}"] = m.Rank;
        }

        Directory.CreateDirectory(directory);
        var config = new JsonObject
        {
            ["alpha_pattern"] = new JsonObject(),
            ["base_model_name_or_path"] = baseModelNameOrPath,
            ["bias"] = "none",
            ["fan_in_fan_out"] = false,
            ["inference_mode"] = true,
            ["lora_alpha"] = alpha,
            ["lora_dropout"] = 0.0,
            ["modules_to_save"] = null,
            ["peft_type"] = "LORA",
            ["r"] = rank,
            ["rank_pattern"] = rankPattern,
            ["target_modules"] = new JsonArray([.. LinearKinds.All.Where(adapter.TargetKinds.Contains).Select(k => (JsonNode)k.ModuleName())]),
            ["task_type"] = "CAUSAL_LM",
            ["use_dora"] = false,
            ["use_rslora"] = useRsLora,
        };
        File.WriteAllText(Path.Combine(directory, PeftAdapterLoader.ConfigFile), config.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));

        var writer = new SafetensorsWriter(new Dictionary<string, string> { ["format"] = "pt" });
        foreach (var m in adapter.Modules)
        {
            string prefix = $"base_model.model.model.layers.{m.Layer}.{m.Kind.ModulePath()}";
            writer.Add(prefix + ".lora_A.weight", dtype, [m.Rank, m.InFeatures], m.A);
            writer.Add(prefix + ".lora_B.weight", dtype, [m.OutFeatures, m.Rank], m.B);
        }
        writer.Save(Path.Combine(directory, PeftAdapterLoader.WeightsFile));
    }
}
