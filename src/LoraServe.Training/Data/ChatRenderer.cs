using System.Text.Json;
using LoraServe.Models.Chat;
using LoraServe.Models.Tokenization;

namespace LoraServe.Training.Data;

/// <summary>
/// Splits a {"messages"} row into trained and untrained token segments with the model's chat
/// template. For each assistant turn i the template is rendered twice: messages[..i] with the
/// generation prompt (everything the model is given) and messages[..i] (that plus the turn); the
/// difference is the assistant's text, which is trained on. This works for any template whose
/// rendering of a prefix of the conversation is a prefix of the full rendering, which is what
/// serving relies on too (it renders with the generation prompt and lets the model continue).
/// </summary>
public sealed class ChatRenderer(ChatTemplate template)
{
    public ChatTemplate Template { get; } = template;

    public IEnumerable<(IReadOnlyList<int> Tokens, bool Trained)> Segments(JsonElement messages, HfTokenizer tokenizer)
    {
        if (messages.ValueKind != JsonValueKind.Array) throw new FormatException("\"messages\" must be an array");
        var list = new List<ChatMessage>();
        foreach (var m in messages.EnumerateArray())
        {
            if (m.ValueKind != JsonValueKind.Object || !m.TryGetProperty("role", out var role) || role.ValueKind != JsonValueKind.String
                || !m.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String)
                throw new FormatException($"message {list.Count} must be an object with string \"role\" and \"content\"");
            list.Add(new ChatMessage(role.GetString()!, content.GetString()!));
        }
        if (!list.Exists(m => m.Role == "assistant")) throw new FormatException("\"messages\" has no assistant turn to train on");

        var segments = new List<(IReadOnlyList<int>, bool)>();
        string done = "";
        for (int i = 0; i < list.Count; i++)
        {
            if (list[i].Role != "assistant") continue;
            string prompt, full;
            try
            {
                prompt = Template.Render(list.GetRange(0, i), addGenerationPrompt: true);
                full = Template.Render(list.GetRange(0, i + 1), addGenerationPrompt: false);
            }
            catch (ChatTemplateException e)
            {
                throw new FormatException($"chat template: {e.Message}");
            }
            if (!prompt.StartsWith(done, StringComparison.Ordinal) || !full.StartsWith(prompt, StringComparison.Ordinal))
                throw new FormatException($"the chat template's rendering of the first {i} messages is not a prefix of the rendering with message {i}; cannot locate the assistant turn");
            segments.Add((tokenizer.Encode(prompt[done.Length..], addSpecialTokens: false), false));
            segments.Add((tokenizer.Encode(full[prompt.Length..], addSpecialTokens: false), true));
            done = full;
        }
        return segments;
    }
}
