using System.Text.RegularExpressions;
using LoraServe.Models.Config;
using LoraServe.Models.Llama;
using LoraServe.Models.Safetensors;

namespace LoraServe.Lora.Adapters;

/// <summary>
/// Reads a PEFT LoRA adapter directory (adapter_config.json + adapter_model.safetensors, as
/// peft's save_pretrained writes it) and validates every tensor against the base model.
/// Tensor names: base_model.model.model.layers.{i}.{self_attn|mlp}.{proj}.lora_{A|B}.weight,
/// lora_A (r, in), lora_B (out, r). fan_in_fan_out is ignored as PEFT itself resets it to false
/// for nn.Linear layers (it only matters for GPT-2's Conv1D).
/// </summary>
public static partial class PeftAdapterLoader
{
    public const string ConfigFile = "adapter_config.json";
    public const string WeightsFile = "adapter_model.safetensors";

    [GeneratedRegex(@"^base_model\.model\.(model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+))\.lora_(A|B)\.weight$", RegexOptions.CultureInvariant)]
    private static partial Regex LoraTensorName();

    public static LoraAdapter Load(string directory, string name, ModelConfig model)
    {
        directory = Path.GetFullPath(directory);
        if (!Directory.Exists(directory)) throw new ModelFormatException(directory, "adapter directory not found");
        var config = PeftAdapterConfig.Load(Path.Combine(directory, ConfigFile));
        string weightsPath = Path.Combine(directory, WeightsFile);
        if (!File.Exists(weightsPath))
        {
            if (File.Exists(Path.Combine(directory, "adapter_model.bin")))
                throw new ModelFormatException(Path.Combine(directory, "adapter_model.bin"), "pickle (.bin) adapter weights are not supported; convert them to adapter_model.safetensors");
            throw new ModelFormatException(weightsPath, "file not found");
        }

        using var file = SafetensorsFile.Open(weightsPath);
        var pairs = new Dictionary<(int Layer, LinearKind Kind), (string? A, string? B, string ModulePath)>();
        foreach (var tensor in file.Tensors.Keys.Order(StringComparer.Ordinal))
        {
            var m = LoraTensorName().Match(tensor);
            if (!m.Success) throw Unsupported(weightsPath, tensor);
            int layer = int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
            if (!LinearKinds.TryParse(m.Groups[4].Value, out var kind) || kind.ModulePath() != $"{m.Groups[3].Value}.{m.Groups[4].Value}")
                throw new ModelFormatException(weightsPath, $"tensor '{tensor}' adapts '{m.Groups[3].Value}.{m.Groups[4].Value}', which is not one of the seven Llama linear layers");
            if (layer >= model.NumLayers)
                throw new ModelFormatException(weightsPath, $"tensor '{tensor}' adapts layer {layer}, but the base model has {model.NumLayers} layers (is this adapter for another base model?)");
            string modulePath = m.Groups[1].Value;
            if (!config.Targets(modulePath))
                throw new ModelFormatException(weightsPath, $"tensor '{tensor}' adapts '{modulePath}', which target_modules in {ConfigFile} does not name");
            pairs.TryGetValue((layer, kind), out var entry);
            entry.ModulePath = modulePath;
            if (m.Groups[5].Value == "A") entry.A = tensor; else entry.B = tensor;
            pairs[(layer, kind)] = entry;
        }
        if (pairs.Count == 0)
            throw new ModelFormatException(weightsPath, "holds no LoRA tensors (expected names like 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight')");

        var modules = new List<LoraModule>(pairs.Count);
        foreach (var ((layer, kind), (a, b, modulePath)) in pairs.OrderBy(p => p.Key.Layer).ThenBy(p => p.Key.Kind))
        {
            if (a is null || b is null)
                throw new ModelFormatException(weightsPath, $"module '{modulePath}' has {(a is null ? "lora_B but no lora_A" : "lora_A but no lora_B")}");
            var (outDim, inDim) = kind.Shape(model);
            int rank = config.RankFor(modulePath);
            CheckShape(file, a, [rank, inDim], "[r, in_features]");
            CheckShape(file, b, [outDim, rank], "[out_features, r]");
            float scale = LoraModule.ScaleFor(config.AlphaFor(modulePath), rank, config.UseRsLora);
            modules.Add(new LoraModule(layer, kind, file.ReadFloats(a), file.ReadFloats(b), rank, inDim, outDim, scale));
        }
        return new LoraAdapter(name, model.NumLayers, modules, directory);
    }

    private static void CheckShape(SafetensorsFile file, string tensor, long[] expected, string meaning)
    {
        var info = file.GetInfo(tensor);
        if (!info.Shape.AsSpan().SequenceEqual(expected))
            throw new ModelFormatException(file.Path, $"tensor '{tensor}' has shape {info.ShapeText}, expected {SafetensorsTensorInfo.FormatShape(expected)} {meaning} for the base model and adapter rank");
    }

    private static ModelFormatException Unsupported(string path, string tensor)
    {
        string why =
            tensor.Contains("lora_embedding_", StringComparison.Ordinal) ? "LoRA on the embedding layer is not supported" :
            tensor.Contains("lm_head", StringComparison.Ordinal) ? "LoRA on lm_head is not supported" :
            tensor.Contains("lora_magnitude_vector", StringComparison.Ordinal) ? "DoRA magnitude vectors are not supported" :
            tensor.EndsWith(".bias", StringComparison.Ordinal) ? "LoRA bias tensors are not supported" :
            "it is not a LoRA A/B weight of a decoder-layer linear module";
        return new ModelFormatException(path, $"tensor '{tensor}': {why}");
    }
}
