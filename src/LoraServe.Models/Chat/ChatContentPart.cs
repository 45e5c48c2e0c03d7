namespace LoraServe.Models.Chat;

/// <summary>One element of an OpenAI-style content list, e.g. <c>{"type": "text", "text": "..."}</c>.</summary>
public sealed record ChatContentPart(string Type, string Text)
{
    public static ChatContentPart FromText(string text) => new("text", text);
}
