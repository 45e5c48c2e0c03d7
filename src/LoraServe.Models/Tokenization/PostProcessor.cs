using System.Text.Json;

namespace LoraServe.Models.Tokenization;

/// <summary>
/// tokenizer.json "post_processor" for a single sequence: the special tokens placed around the
/// encoded text when the caller asks for them (tokenizers adds them only when
/// add_special_tokens is true). Pair templates are read for validation but LoraServe encodes
/// single sequences only.
/// </summary>
public sealed class PostProcessor
{
    private readonly int[] _prefix;
    private readonly int[] _suffix;

    public PostProcessor(int[] prefix, int[] suffix)
    {
        _prefix = prefix;
        _suffix = suffix;
    }

    /// <summary>A processor that adds nothing (ByteLevel's, or none at all).</summary>
    public static PostProcessor None { get; } = new([], []);

    /// <summary>True when the processor adds no token.</summary>
    public bool AddsNothing => _prefix.Length == 0 && _suffix.Length == 0;

    /// <summary>Ids put before the sequence.</summary>
    public IReadOnlyList<int> Prefix => _prefix;

    /// <summary>Ids put after the sequence.</summary>
    public IReadOnlyList<int> Suffix => _suffix;

    public void Apply(List<int> ids)
    {
        if (AddsNothing) return;
        ids.InsertRange(0, _prefix);
        ids.AddRange(_suffix);
    }

    internal static PostProcessor FromJson(JsonElement e, TokenizerJson json, string component)
    {
        if (e.ValueKind == JsonValueKind.Null) return None;
        string type = json.Type(e, component);
        switch (type)
        {
            case "ByteLevel":
                // Only adjusts offsets (trim_offsets); ids are untouched.
                return None;
            case "TemplateProcessing":
                return FromTemplate(e, json, component);
            case "BertProcessing":
            case "RobertaProcessing":
                // {"cls": ["[CLS]", 101], "sep": ["[SEP]", 102]} → cls $A sep.
                return new PostProcessor([TokenPairId(e, "cls", json, component)], [TokenPairId(e, "sep", json, component)]);
            case "Sequence":
            {
                var prefix = new List<int>();
                var suffix = new List<int>();
                int i = 0;
                foreach (var child in json.Array(e, "processors", component).EnumerateArray())
                {
                    var p = FromJson(child, json, $"{component}.processors[{i++}]");
                    // Each processor wraps the output of the previous one.
                    prefix.InsertRange(0, p._prefix);
                    suffix.AddRange(p._suffix);
                }
                return new PostProcessor(prefix.ToArray(), suffix.ToArray());
            }
            default:
                return json.Unsupported<PostProcessor>(component, "post_processor type", type);
        }
    }

    private static int TokenPairId(JsonElement e, string field, TokenizerJson json, string component)
    {
        if (!e.TryGetProperty(field, out var pair) || pair.ValueKind != JsonValueKind.Array || pair.GetArrayLength() != 2
            || pair[1].ValueKind != JsonValueKind.Number)
            json.Fail(component, $"\"{field}\" must be [token, id]");
        return pair[1].GetInt32();
    }

    /// <summary>
    /// TemplateProcessing "single": a list of {"SpecialToken": {"id": name}} and
    /// {"Sequence": {"id": "A"}} items; each special token's ids come from "special_tokens".
    /// </summary>
    private static PostProcessor FromTemplate(JsonElement e, TokenizerJson json, string component)
    {
        var special = new Dictionary<string, int[]>(StringComparer.Ordinal);
        if (e.TryGetProperty("special_tokens", out var st) && st.ValueKind == JsonValueKind.Object)
        {
            foreach (var p in st.EnumerateObject())
            {
                var ids = new List<int>();
                foreach (var id in json.Array(p.Value, "ids", $"{component}.special_tokens.{p.Name}").EnumerateArray()) ids.Add(id.GetInt32());
                special[p.Name] = ids.ToArray();
            }
        }
        var prefix = new List<int>();
        var suffix = new List<int>();
        bool seenSequence = false;
        int i = 0;
        foreach (var item in json.Array(e, "single", component).EnumerateArray())
        {
            string itemComponent = $"{component}.single[{i++}]";
            if (item.TryGetProperty("SpecialToken", out var tok))
            {
                string name = json.String(tok, "id", itemComponent);
                if (!special.TryGetValue(name, out var ids)) json.Fail(itemComponent, $"special token \"{name}\" is missing from special_tokens");
                (seenSequence ? suffix : prefix).AddRange(ids);
            }
            else if (item.TryGetProperty("Sequence", out var seq))
            {
                string id = json.String(seq, "id", itemComponent);
                if (id != "A") json.Fail(itemComponent, $"single template refers to sequence \"{id}\"; only $A exists for one sequence");
                if (seenSequence) json.Fail(itemComponent, "single template uses $A twice");
                seenSequence = true;
            }
            else
            {
                json.Fail(itemComponent, "expected SpecialToken or Sequence");
            }
        }
        if (!seenSequence) json.Fail(component, "single template has no $A");
        return new PostProcessor(prefix.ToArray(), suffix.ToArray());
    }
}
