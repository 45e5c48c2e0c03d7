namespace LoraServe.Models.Chat;

/// <summary>
/// One chat turn as the template sees it: <c>role</c> plus <c>content</c>, where content is either
/// a string or a list of typed parts (OpenAI's content-parts form). Exactly one of
/// <see cref="Content"/> and <see cref="Parts"/> is set.
/// </summary>
public sealed class ChatMessage
{
    public ChatMessage(string role, string content)
    {
        ArgumentNullException.ThrowIfNull(role);
        ArgumentNullException.ThrowIfNull(content);
        Role = role;
        Content = content;
    }

    public ChatMessage(string role, IReadOnlyList<ChatContentPart> parts)
    {
        ArgumentNullException.ThrowIfNull(role);
        ArgumentNullException.ThrowIfNull(parts);
        Role = role;
        Parts = parts;
    }

    public string Role { get; }

    public string? Content { get; }

    public IReadOnlyList<ChatContentPart>? Parts { get; }

    /// <summary>
    /// Other message keys templates read, e.g. <c>tool_calls</c>, <c>tool_call_id</c>, <c>name</c>;
    /// values as for <see cref="ChatTemplate.Render"/>'s extra variables (JsonElement, dictionaries, lists, scalars).
    /// </summary>
    public IReadOnlyDictionary<string, object?>? Fields { get; init; }
}
