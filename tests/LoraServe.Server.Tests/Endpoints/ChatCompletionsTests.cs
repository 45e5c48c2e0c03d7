using System.ClientModel;
using System.Net;
using System.Text;
using LoraServe.Server.Tests.Support;
using OpenAI.Chat;

namespace LoraServe.Server.Tests.Endpoints;

/// <summary>/v1/chat/completions driven by the official OpenAI .NET client.</summary>
[Collection(ServerCollection.Name)]
public sealed class ChatCompletionsTests(ServerFixture fx)
{
    private const string Question = "Name three colors.";

    private ChatClient Chat(string model, string key = ServerFixture.AcmeKey) => new(model, new ApiKeyCredential(key), fx.ClientOptions());

    private static ChatCompletionOptions Greedy(int maxTokens) => new() { Temperature = 0, MaxOutputTokenCount = maxTokens };

    [Theory]
    [InlineData(ServerFixture.BaseName, null)]
    [InlineData("beta", "beta")]
    public async Task Chat_answer_equals_the_reference_on_the_rendered_prompt(string model, string? adapter)
    {
        var result = await Chat(model).CompleteChatAsync([new SystemChatMessage("Be brief."), new UserChatMessage(Question)], Greedy(10));
        var expected = fx.ReferenceGreedy(fx.ChatPrompt(("system", "Be brief."), ("user", Question)), 10, adapter);
        var completion = result.Value;
        Assert.Equal(expected.Text, completion.Content.Count == 0 ? "" : completion.Content[0].Text);
        Assert.Equal(expected.Finish == "stop" ? ChatFinishReason.Stop : ChatFinishReason.Length, completion.FinishReason);
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.Equal(expected.Tokens, completion.Usage.OutputTokenCount);
        Assert.Equal(fx.ChatPrompt(("system", "Be brief."), ("user", Question)).Count, completion.Usage.InputTokenCount);
        Assert.Equal(model, completion.Model);
    }

    [Fact]
    public async Task Streaming_chat_equals_the_whole_answer_and_reports_usage_last()
    {
        var messages = new ChatMessage[] { new UserChatMessage(Question) };
        var whole = (await Chat("alpha").CompleteChatAsync(messages, Greedy(16))).Value;
        var text = new StringBuilder();
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        int updates = 0;
        await foreach (var update in Chat("alpha").CompleteChatStreamingAsync(messages, Greedy(16)))
        {
            updates++;
            foreach (var part in update.ContentUpdate) text.Append(part.Text);
            finish ??= update.FinishReason;
            if (update.Usage is not null) usage = update.Usage;
        }
        Assert.True(updates > 2);
        Assert.Equal(whole.Content.Count == 0 ? "" : whole.Content[0].Text, text.ToString());
        Assert.Equal(whole.FinishReason, finish);
        Assert.NotNull(usage);
        Assert.Equal(whole.Usage.OutputTokenCount, usage.OutputTokenCount);
        Assert.Equal(whole.Usage.InputTokenCount, usage.InputTokenCount);
    }

    [Fact]
    public async Task Chat_logprobs_have_the_openai_shape()
    {
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 4, IncludeLogProbabilities = true, TopLogProbabilityCount = 2 };
        var completion = (await Chat(ServerFixture.BaseName).CompleteChatAsync([new UserChatMessage(Question)], options)).Value;
        Assert.Equal(completion.Usage.OutputTokenCount, completion.ContentTokenLogProbabilities.Count);
        foreach (var t in completion.ContentTokenLogProbabilities)
        {
            Assert.Equal(2, t.TopLogProbabilities.Count);
            Assert.Equal(t.TopLogProbabilities[0].LogProbability, t.LogProbability, 4);
            Assert.Equal(Encoding.UTF8.GetBytes(t.Token), t.Utf8Bytes!.Value.ToArray());
            Assert.True(t.LogProbability <= 0);
        }
    }

    [Fact]
    public async Task Two_adapters_and_the_base_in_concurrent_requests_answer_as_when_run_alone()
    {
        string[] models = [ServerFixture.BaseName, "alpha", "beta", "alpha", ServerFixture.BaseName, "beta"];
        string[] questions = ["Say hello.", "Count to five.", "What is rain?", "Name a fruit.", "Tell a joke.", "Why is the sky blue?"];
        var alone = new string[models.Length];
        for (int i = 0; i < models.Length; i++)
            alone[i] = Text((await Chat(models[i]).CompleteChatAsync([new UserChatMessage(questions[i])], Greedy(20))).Value);

        var together = await Task.WhenAll(models.Select(async (m, i) =>
        {
            if (i % 2 == 0) return Text((await Chat(m).CompleteChatAsync([new UserChatMessage(questions[i])], Greedy(20))).Value);
            var sb = new StringBuilder();
            await foreach (var u in Chat(m).CompleteChatStreamingAsync([new UserChatMessage(questions[i])], Greedy(20)))
                foreach (var part in u.ContentUpdate) sb.Append(part.Text);
            return sb.ToString();
        }));
        Assert.Equal(alone, together);
        // Base and each adapter answered differently somewhere: the adapters were really applied.
        Assert.NotEqual(alone[0], Text((await Chat("alpha").CompleteChatAsync([new UserChatMessage(questions[0])], Greedy(20))).Value));
        await ServerFixture.WaitForIdleAsync(fx.Server);
    }

    [Fact]
    public async Task Unknown_and_forbidden_models_are_both_404_with_the_same_message_shape()
    {
        var unknown = await Assert.ThrowsAsync<ClientResultException>(() => Chat("no-such-adapter").CompleteChatAsync([new UserChatMessage("hi")], Greedy(2)));
        Assert.Equal(404, unknown.Status);
        // beta-co may use only "beta": alpha and the base model are hidden from it.
        var forbidden = await Assert.ThrowsAsync<ClientResultException>(() => Chat("alpha", ServerFixture.BetaKey).CompleteChatAsync([new UserChatMessage("hi")], Greedy(2)));
        Assert.Equal(404, forbidden.Status);
        var forbiddenBase = await Assert.ThrowsAsync<ClientResultException>(() => Chat(ServerFixture.BaseName, ServerFixture.BetaKey).CompleteChatAsync([new UserChatMessage("hi")], Greedy(2)));
        Assert.Equal(404, forbiddenBase.Status);
        using var raw = await fx.Client(ServerFixture.BetaKey).PostAsync("v1/chat/completions", ServerFixture.Json("""{"model": "alpha", "messages": [{"role": "user", "content": "hi"}]}"""));
        var error = (await ServerFixture.ReadJsonAsync(raw)).GetProperty("error");
        Assert.Equal("The model `alpha` does not exist.", error.GetProperty("message").GetString());
        Assert.Equal("NotFoundError", error.GetProperty("type").GetString());
        var allowed = await Chat("beta", ServerFixture.BetaKey).CompleteChatAsync([new UserChatMessage("hi")], Greedy(2));
        Assert.Equal("beta", allowed.Value.Model);
    }

    [Fact]
    public async Task Content_parts_render_like_the_same_text()
    {
        using var parts = await fx.Http.PostAsync("v1/chat/completions", ServerFixture.Json(
            """{"model": "tiny-base", "temperature": 0, "max_tokens": 8, "messages": [{"role": "user", "content": [{"type": "text", "text": "Name three colors."}]}]}"""));
        Assert.Equal(HttpStatusCode.OK, parts.StatusCode);
        var viaParts = (await ServerFixture.ReadJsonAsync(parts)).GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString();
        Assert.Equal(fx.ReferenceGreedy(fx.ChatPrompt(("user", Question)), 8, null).Text, viaParts);
    }

    private static string Text(ChatCompletion c) => c.Content.Count == 0 ? "" : c.Content[0].Text;
}
