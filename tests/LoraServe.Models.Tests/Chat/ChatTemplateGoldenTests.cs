using System.Text.Json;
using LoraServe.Models.Chat;

namespace LoraServe.Models.Tests.Chat;

/// <summary>
/// Every template × conversation × add_generation_prompt against goldens rendered by
/// @huggingface/jinja (tools/chat-template-goldens/generate.mjs), an implementation independent of ours.
/// </summary>
public sealed class ChatTemplateGoldenTests
{
    public static TheoryData<string, string, bool, bool> Cases()
    {
        var data = new TheoryData<string, string, bool, bool>();
        foreach (var c in ChatFixtures.GoldenRoot.GetProperty("cases").EnumerateArray())
        {
            data.Add(c.GetProperty("template").GetString()!, c.GetProperty("conversation").GetString()!,
                c.GetProperty("add_generation_prompt").GetBoolean(), c.GetProperty("tools").GetBoolean());
        }
        return data;
    }

    private static JsonElement Golden(string template, string conversation, bool addGenerationPrompt, bool withTools) =>
        ChatFixtures.GoldenRoot.GetProperty("cases").EnumerateArray().Single(c =>
            c.GetProperty("template").GetString() == template
            && c.GetProperty("conversation").GetString() == conversation
            && c.GetProperty("add_generation_prompt").GetBoolean() == addGenerationPrompt
            && c.GetProperty("tools").GetBoolean() == withTools);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Render_matches_huggingface_jinja_golden(string template, string conversation, bool addGenerationPrompt, bool withTools)
    {
        var chat = ChatTemplate.FromTokenizerConfig(ChatFixtures.ModelDir(template));
        Assert.NotNull(chat);
        var golden = Golden(template, conversation, addGenerationPrompt, withTools);
        var messages = ChatFixtures.Conversation(conversation);
        var extra = withTools ? new Dictionary<string, object?> { ["tools"] = ChatFixtures.GoldenRoot.GetProperty("tools") } : null;
        if (golden.TryGetProperty("error", out var error))
        {
            var ex = Assert.Throws<ChatTemplateException>(() => chat.Render(messages, addGenerationPrompt, extra));
            Assert.True(ex.RaisedByTemplate);
            Assert.Equal(error.GetString(), ex.Message);
        }
        else
        {
            Assert.Equal(golden.GetProperty("output").GetString(), chat.Render(messages, addGenerationPrompt, extra));
        }
    }

    public static TheoryData<string> TemplateNames()
    {
        var data = new TheoryData<string>();
        foreach (var t in ChatFixtures.GoldenRoot.GetProperty("templates").EnumerateObject()) data.Add(t.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(TemplateNames))]
    public void Content_part_handling_is_detected_as_the_golden_generator_assumed(string template)
    {
        var chat = ChatTemplate.FromTokenizerConfig(ChatFixtures.ModelDir(template));
        Assert.NotNull(chat);
        string expected = ChatFixtures.GoldenRoot.GetProperty("templates").GetProperty(template).GetProperty("content_format").GetString()!;
        Assert.Equal(expected == "openai", chat.AcceptsContentParts);
    }

    [Fact]
    public void Goldens_cover_every_required_model_family()
    {
        var names = ChatFixtures.GoldenRoot.GetProperty("templates").EnumerateObject().Select(t => t.Name).ToHashSet();
        string[] required = ["llama3-instruct", "llama3.1-instruct", "qwen2.5-instruct", "smollm2-instruct", "mistral-v0.1-instruct", "mistral-v0.2-instruct", "mistral-v0.3-instruct"];
        Assert.All(required, r => Assert.Contains(r, names));
    }
}
