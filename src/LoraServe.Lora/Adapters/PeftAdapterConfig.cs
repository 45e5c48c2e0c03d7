using System.Text.Json;
using System.Text.RegularExpressions;
using LoraServe.Models.Config;

namespace LoraServe.Lora.Adapters;

/// <summary>
/// The LoRA fields of a PEFT adapter_config.json (peft LoraConfig). Parsing rejects, by name,
/// every feature this engine does not run — never silently ignoring one (DESIGN §4).
/// </summary>
public sealed class PeftAdapterConfig
{
    public required string Path { get; init; }
    public required int Rank { get; init; }
    public required double Alpha { get; init; }
    public bool UseRsLora { get; init; }

    /// <summary>A list of module names (matched as PEFT does: exact or ".name" suffix)…</summary>
    public IReadOnlyList<string>? TargetModuleNames { get; init; }

    /// <summary>…or a regular expression that must match the whole module path…</summary>
    public Regex? TargetModulesRegex { get; init; }

    /// <summary>…or "all-linear": every linear layer but the output head.</summary>
    public bool AllLinear { get; init; }

    public IReadOnlyList<KeyValuePair<string, int>> RankPattern { get; init; } = [];
    public IReadOnlyList<KeyValuePair<string, double>> AlphaPattern { get; init; } = [];
    public string? BaseModelNameOrPath { get; init; }

    /// <summary>Whether PEFT would have wrapped the module at <paramref name="modulePath"/> ("model.layers.3.self_attn.q_proj").</summary>
    public bool Targets(string modulePath)
    {
        if (AllLinear) return true;
        if (TargetModulesRegex is not null) return TargetModulesRegex.IsMatch(modulePath);
        foreach (var name in TargetModuleNames!)
            if (modulePath == name || modulePath.EndsWith("." + name, StringComparison.Ordinal)) return true;
        return false;
    }

    /// <summary>Rank of one module: the first rank_pattern key matching it (PEFT's get_pattern_key), else r.</summary>
    public int RankFor(string modulePath)
    {
        foreach (var (key, rank) in RankPattern) if (PatternMatches(key, modulePath)) return rank;
        return Rank;
    }

    /// <summary>Alpha of one module: the first alpha_pattern key matching it, else lora_alpha.</summary>
    public double AlphaFor(string modulePath)
    {
        foreach (var (key, alpha) in AlphaPattern) if (PatternMatches(key, modulePath)) return alpha;
        return Alpha;
    }

    // PEFT matches a pattern key k against a module path as re.match(rf"(.*\.)?({k})$", path).
    private static bool PatternMatches(string key, string modulePath) =>
        Regex.IsMatch(modulePath, $"^(.*\\.)?({key})$", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));

    public static PeftAdapterConfig Load(string path)
    {
        if (!File.Exists(path)) throw new ModelFormatException(path, "file not found (a PEFT adapter directory needs adapter_config.json)");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new ModelFormatException(path, $"invalid JSON: {e.Message}", e);
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new ModelFormatException(path, "must hold a JSON object");
            ModelFormatException Error(string field, string problem) => new(path, $"field '{field}' {problem}");
            JsonElement? Get(string field) => root.TryGetProperty(field, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

            if (Get("peft_type") is { } peftType && peftType.GetString() is var pt && pt != "LORA")
                throw Error("peft_type", $"is '{pt}'; only LORA adapters are supported");
            if (Get("use_dora") is { ValueKind: JsonValueKind.True })
                throw Error("use_dora", "is true; DoRA adapters are not supported");
            if (Get("modules_to_save") is { } mts && !(mts.ValueKind == JsonValueKind.Array && mts.GetArrayLength() == 0))
                throw Error("modules_to_save", $"is {mts.GetRawText()}; adapters that carry full copies of modules (e.g. lm_head, embed_tokens) are not supported");
            if (Get("bias") is { } bias && bias.GetString() != "none")
                throw Error("bias", $"is {bias.GetRawText()}; only \"none\" is supported (LoRA bias tensors are not)");
            if (Get("lora_bias") is { ValueKind: JsonValueKind.True })
                throw Error("lora_bias", "is true; a bias on lora_B is not supported");
            foreach (var unsupported in new[] { "layers_to_transform", "layers_pattern", "exclude_modules", "layer_replication", "trainable_token_indices", "target_parameters" })
                if (Get(unsupported) is { } u && !(u.ValueKind == JsonValueKind.Array && u.GetArrayLength() == 0))
                    throw Error(unsupported, $"is {u.GetRawText()}; this option is not supported");

            int rank = Get("r") is { } r ? (r.TryGetInt32(out int ri) && ri > 0 ? ri : throw Error("r", $"must be a positive integer, found {r.GetRawText()}")) : 8;
            double alpha = Get("lora_alpha") is { } a ? (a.ValueKind == JsonValueKind.Number ? a.GetDouble() : throw Error("lora_alpha", $"must be a number, found {a.GetRawText()}")) : 8;
            bool rs = Get("use_rslora") is { } rsl && (rsl.ValueKind is JsonValueKind.True or JsonValueKind.False ? rsl.GetBoolean() : throw Error("use_rslora", "must be true or false"));

            IReadOnlyList<string>? names = null;
            Regex? regex = null;
            bool allLinear = false;
            switch (Get("target_modules"))
            {
                case null:
                    throw Error("target_modules", "is missing; name the adapted modules (a list, a regex or \"all-linear\")");
                case { ValueKind: JsonValueKind.String } s when s.GetString() == "all-linear":
                    allLinear = true;
                    break;
                case { ValueKind: JsonValueKind.String } s:
                    try
                    {
                        // PEFT uses re.fullmatch for a string target_modules.
                        regex = new Regex($"^(?:{s.GetString()})$", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
                    }
                    catch (ArgumentException e)
                    {
                        throw Error("target_modules", $"is not a valid regular expression: {e.Message}");
                    }
                    break;
                case { ValueKind: JsonValueKind.Array } list:
                    var l = new List<string>();
                    foreach (var item in list.EnumerateArray())
                        l.Add(item.ValueKind == JsonValueKind.String ? item.GetString()! : throw Error("target_modules", $"must list strings, found {item.GetRawText()}"));
                    if (l.Count == 0) throw Error("target_modules", "is an empty list");
                    names = l;
                    break;
                case { } other:
                    throw Error("target_modules", $"must be a list, a regex string or \"all-linear\", found {other.GetRawText()}");
            }

            var rankPattern = new List<KeyValuePair<string, int>>();
            if (Get("rank_pattern") is { } rp)
            {
                if (rp.ValueKind != JsonValueKind.Object) throw Error("rank_pattern", "must be an object");
                foreach (var p in rp.EnumerateObject())
                    rankPattern.Add(new(p.Name, p.Value.TryGetInt32(out int v) && v > 0 ? v : throw Error($"rank_pattern.{p.Name}", $"must be a positive integer, found {p.Value.GetRawText()}")));
            }
            var alphaPattern = new List<KeyValuePair<string, double>>();
            if (Get("alpha_pattern") is { } ap)
            {
                if (ap.ValueKind != JsonValueKind.Object) throw Error("alpha_pattern", "must be an object");
                foreach (var p in ap.EnumerateObject())
                    alphaPattern.Add(new(p.Name, p.Value.ValueKind == JsonValueKind.Number ? p.Value.GetDouble() : throw Error($"alpha_pattern.{p.Name}", $"must be a number, found {p.Value.GetRawText()}")));
            }
            return new PeftAdapterConfig
            {
                Path = path, Rank = rank, Alpha = alpha, UseRsLora = rs, TargetModuleNames = names, TargetModulesRegex = regex, AllLinear = allLinear,
                RankPattern = rankPattern, AlphaPattern = alphaPattern, BaseModelNameOrPath = Get("base_model_name_or_path")?.GetString(),
            };
        }
    }
}
