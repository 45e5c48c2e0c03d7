using System.Text.Json;
using LoraServe.Models.Tokenization;

namespace LoraServe.Training.Data;

/// <summary>A row the loader rejected, with its 1-based line number.</summary>
public sealed record DataError(int LineNumber, string Message)
{
    public override string ToString() => $"line {LineNumber}: {Message}";
}

/// <summary>
/// Reads a JSONL training file. Each non-blank line is one object of one of three shapes:
/// {"prompt","completion"} — loss on the completion only (it is followed by EOS, so the model
/// learns to stop); {"text"} — loss on every token, then EOS; {"messages":[{"role","content"}…]}
/// — rendered with the model's chat template, loss on the assistant turns only. Rows that are not
/// valid are collected as <see cref="DataError"/>s with their line numbers instead of aborting at
/// the first, so one run reports every bad row.
/// </summary>
public sealed class JsonlDataset
{
    private JsonlDataset(IReadOnlyList<TrainingExample> examples, IReadOnlyList<DataError> errors)
    {
        Examples = examples;
        Errors = errors;
    }

    public IReadOnlyList<TrainingExample> Examples { get; }
    public IReadOnlyList<DataError> Errors { get; }

    public static JsonlDataset Load(string path, HfTokenizer tokenizer, int maxSeqLen, ChatRenderer? chat = null)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"data file '{path}' not found", path);
        var examples = new List<TrainingExample>();
        var errors = new List<DataError>();
        int eos = tokenizer.EosTokenIds.Count > 0 ? tokenizer.EosTokenIds[0] : -1;
        int line = 0;
        foreach (var text in File.ReadLines(path))
        {
            line++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            try
            {
                var example = Parse(text, tokenizer, eos, maxSeqLen, line, chat);
                if (example.LossTokens == 0)
                    errors.Add(new DataError(line, $"no tokens to train on within --max-seq-len {maxSeqLen} (the prompt fills the whole sequence, or the completion is empty)"));
                else examples.Add(example);
            }
            catch (JsonException e)
            {
                errors.Add(new DataError(line, $"invalid JSON: {e.Message}"));
            }
            catch (FormatException e)
            {
                errors.Add(new DataError(line, e.Message));
            }
        }
        return new JsonlDataset(examples, errors);
    }

    private static TrainingExample Parse(string json, HfTokenizer tokenizer, int eos, int maxSeqLen, int line, ChatRenderer? chat)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new FormatException($"expected a JSON object, got {root.ValueKind}");
        IReadOnlyList<int> Eos() => eos >= 0 ? [eos] : [];
        if (root.TryGetProperty("messages", out var messages))
        {
            if (chat is null) throw new FormatException("a \"messages\" row needs a chat template, and the model directory has none");
            return TrainingExample.FromSegments(chat.Segments(messages, tokenizer), maxSeqLen, line);
        }
        if (root.TryGetProperty("prompt", out var prompt) || root.TryGetProperty("completion", out _))
        {
            string p = RequireString(root, "prompt"), c = RequireString(root, "completion");
            return TrainingExample.FromSegments(
                [(tokenizer.Encode(p, addSpecialTokens: true), false), (tokenizer.Encode(c, addSpecialTokens: false), true), (Eos(), true)], maxSeqLen, line);
        }
        if (root.TryGetProperty("text", out _))
        {
            string t = RequireString(root, "text");
            return TrainingExample.FromSegments([(tokenizer.Encode(t, addSpecialTokens: true), true), (Eos(), true)], maxSeqLen, line);
        }
        throw new FormatException("row has none of \"prompt\"/\"completion\", \"text\" or \"messages\"");
    }

    private static string RequireString(JsonElement row, string name)
    {
        if (!row.TryGetProperty(name, out var v)) throw new FormatException($"missing \"{name}\"");
        if (v.ValueKind != JsonValueKind.String) throw new FormatException($"\"{name}\" must be a string, got {v.ValueKind}");
        return v.GetString()!;
    }
}
