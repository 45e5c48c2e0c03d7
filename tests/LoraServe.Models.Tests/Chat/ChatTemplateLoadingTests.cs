using LoraServe.Models.Chat;

namespace LoraServe.Models.Tests.Chat;

/// <summary>Loading templates from model directories, the ChatML fallback, and the errors a caller sees.</summary>
public sealed class ChatTemplateLoadingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("chat-template-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Model_without_chat_template_returns_null_so_the_caller_falls_back()
    {
        Assert.Null(ChatTemplate.FromTokenizerConfig(ChatFixtures.ModelDir("no-template")));
        Assert.Null(ChatTemplate.FromTokenizerConfig(_dir));
    }

    [Fact]
    public void ChatML_fallback_renders_the_standard_format()
    {
        var text = ChatTemplate.ChatML.Render([new ChatMessage("system", "S"), new ChatMessage("user", "U")], addGenerationPrompt: true);
        Assert.Equal("<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n", text);
    }

    [Fact]
    public void Named_template_list_picks_default_and_token_objects_give_their_content()
    {
        File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"), """
            {"bos_token": {"content": "<B>", "lstrip": false}, "eos_token": "<E>",
             "chat_template": [{"name": "tool_use", "template": "TOOLS"}, {"name": "default", "template": "{{ bos_token }}{{ messages[0].content }}{{ eos_token }}"}]}
            """);
        var chat = ChatTemplate.FromTokenizerConfig(_dir);
        Assert.NotNull(chat);
        Assert.Equal("<B>hi<E>", chat.Render([new ChatMessage("user", "hi")], false));
    }

    [Fact]
    public void Named_template_list_without_default_is_a_clear_error()
    {
        File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"), """{"chat_template": [{"name": "tool_use", "template": "x"}]}""");
        var ex = Assert.Throws<ChatTemplateException>(() => ChatTemplate.FromTokenizerConfig(_dir));
        Assert.Contains("no 'default' entry", ex.Message);
        Assert.Contains("tool_use", ex.Message);
    }

    [Fact]
    public void Chat_template_jinja_file_takes_precedence_over_tokenizer_config()
    {
        File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"), """{"bos_token": "<B>", "chat_template": "from-config"}""");
        File.WriteAllText(Path.Combine(_dir, "chat_template.jinja"), "{{ bos_token }}from-file\n");
        var chat = ChatTemplate.FromTokenizerConfig(_dir);
        Assert.NotNull(chat);
        Assert.Equal("<B>from-file", chat.Render([new ChatMessage("user", "x")], false));
    }

    [Fact]
    public void Missing_special_token_is_undefined_and_renders_empty()
    {
        // Qwen2.5 sets bos_token to null; transformers leaves it out of the variables.
        var chat = ChatTemplate.FromTokenizerConfigJson("""{"bos_token": null, "chat_template": "[{{ bos_token }}]{{ bos_token is defined }}"}""");
        Assert.NotNull(chat);
        Assert.Equal("[]False", chat.Render([], false));
    }

    [Fact]
    public void Raise_exception_surfaces_the_template_message()
    {
        var mistral = ChatTemplate.FromTokenizerConfig(ChatFixtures.ModelDir("mistral-v0.1-instruct"));
        Assert.NotNull(mistral);
        var ex = Assert.Throws<ChatTemplateException>(() => mistral.Render([new ChatMessage("assistant", "first")], true));
        Assert.True(ex.RaisedByTemplate);
        Assert.Equal("Conversation roles must alternate user/assistant/user/assistant/...", ex.Message);
    }

    [Theory]
    [InlineData("{% include 'other.jinja' %}", "Unsupported Jinja construct '{% include %}'", "line 1, column 4")]
    [InlineData("ok\n{% for m in messages recursive %}{% endfor %}", "Unsupported Jinja construct 'for ... recursive'", "line 2")]
    [InlineData("{{ x | wordwrap }}", "Unsupported Jinja filter 'wordwrap'", "line 1")]
    [InlineData("{{ x is escaped }}", "Unsupported Jinja test 'escaped'", "line 1")]
    [InlineData("{% if true %}no end", "Unexpected end of template", "line 1")]
    [InlineData("{{ 'a' + }}", "Unexpected '}}' in expression", "line 1, column 10")]
    public void Unsupported_or_malformed_templates_fail_at_load_with_construct_and_position(string template, string message, string position)
    {
        var ex = Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(template, sourceName: "test.jinja"));
        Assert.Contains(message, ex.Message);
        Assert.Contains("test.jinja " + position, ex.Message);
    }

    [Fact]
    public void Runtime_type_error_names_python_error_and_position()
    {
        var chat = ChatTemplate.Parse("{{ 'n=' + 1 }}", sourceName: "t.jinja");
        var ex = Assert.Throws<ChatTemplateException>(() => chat.Render([], false));
        Assert.Contains("can only concatenate str (not \"int\") to str", ex.Message);
        Assert.Contains("t.jinja line 1", ex.Message);
    }

    [Fact]
    public void Mutating_list_methods_are_refused_like_the_immutable_sandbox()
    {
        var chat = ChatTemplate.Parse("{% set xs = [] %}{{ xs.append(1) }}");
        var ex = Assert.Throws<ChatTemplateException>(() => chat.Render([], false));
        Assert.Contains("list.append()", ex.Message);
    }

    [Fact]
    public void Content_parts_are_joined_for_string_templates_and_non_text_parts_rejected()
    {
        var chat = ChatTemplate.Parse("{{ messages[0].content }}");
        Assert.False(chat.AcceptsContentParts);
        Assert.Equal("a\nb", chat.Render([new ChatMessage("user", [ChatContentPart.FromText("a"), ChatContentPart.FromText("b")])], false));
        var ex = Assert.Throws<ChatTemplateException>(() => chat.Render([new ChatMessage("user", [new ChatContentPart("image_url", "")])], false));
        Assert.Contains("image_url", ex.Message);
    }

    [Fact]
    public void Message_fields_appear_only_when_set_and_cannot_replace_role_or_content()
    {
        var chat = ChatTemplate.Parse("{% for m in messages %}{{ 'tool_calls' in m }}{{ m.name }};{% endfor %}");
        var plain = new ChatMessage("user", "x");
        var named = new ChatMessage("tool", "y") { Fields = new Dictionary<string, object?> { ["name"] = "get_weather" } };
        Assert.Equal("False;Falseget_weather;", chat.Render([plain, named], false));
        var bad = new ChatMessage("user", "x") { Fields = new Dictionary<string, object?> { ["role"] = "system" } };
        Assert.Throws<ArgumentException>(() => chat.Render([bad], false));
    }

    [Fact]
    public void Extra_variables_override_defaults_including_tools()
    {
        var llama31 = ChatTemplate.FromTokenizerConfig(ChatFixtures.ModelDir("llama3.1-instruct"));
        Assert.NotNull(llama31);
        var text = llama31.Render([new ChatMessage("user", "hi")], true, new Dictionary<string, object?> { ["date_string"] = "01 Jan 2025" });
        Assert.Contains("Today Date: 01 Jan 2025\n", text);
        Assert.DoesNotContain("Environment: ipython", text);
    }
}
