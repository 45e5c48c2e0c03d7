using System.Runtime.CompilerServices;
using System.Text.Json;
using LoraServe.Models.Chat;

namespace LoraServe.Models.Tests.Chat;

/// <summary>
/// Locates tests/fixtures/chat-templates in place: above the test binary when it is built inside the
/// repository, else relative to this source file (builds with --artifacts-path outside the tree).
/// </summary>
internal static class ChatFixtures
{
    private static readonly Lazy<string> RootDir = new(() => Find(AppContext.BaseDirectory) ?? Find(ThisFileDir()) ??
        throw new DirectoryNotFoundException("tests/fixtures/chat-templates not found above " + AppContext.BaseDirectory + " or " + ThisFileDir()));

    private static string ThisFileDir([CallerFilePath] string path = "") => Path.GetDirectoryName(path) ?? "";

    private static string? Find(string start)
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "tests", "fixtures", "chat-templates");
            if (File.Exists(Path.Combine(candidate, "goldens.json"))) return candidate;
        }
        return null;
    }

    public static string Root => RootDir.Value;

    public static string ModelDir(string name) => Path.Combine(Root, name);

    private static readonly Lazy<JsonDocument> Goldens = new(() => JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "goldens.json"))));

    public static JsonElement GoldenRoot => Goldens.Value.RootElement;

    public static List<ChatMessage> Conversation(string name)
    {
        var messages = new List<ChatMessage>();
        foreach (var m in GoldenRoot.GetProperty("conversations").GetProperty(name).EnumerateArray())
        {
            string role = m.GetProperty("role").GetString()!;
            var content = m.GetProperty("content");
            var fields = m.EnumerateObject().Where(p => p.Name is not ("role" or "content")).ToDictionary(p => p.Name, p => (object?)p.Value.Clone());
            var message = content.ValueKind == JsonValueKind.String
                ? new ChatMessage(role, content.GetString()!) { Fields = fields.Count > 0 ? fields : null }
                : new ChatMessage(role, content.EnumerateArray().Select(p => new ChatContentPart(p.GetProperty("type").GetString()!, p.GetProperty("text").GetString()!)).ToList());
            messages.Add(message);
        }
        return messages;
    }
}
