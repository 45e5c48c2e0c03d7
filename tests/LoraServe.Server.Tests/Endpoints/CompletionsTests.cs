using System.Net;
using System.Text.Json;
using LoraServe.Server.Tests.Support;

namespace LoraServe.Server.Tests.Endpoints;

[Collection(ServerCollection.Name)]
public sealed class CompletionsTests(ServerFixture fx)
{
    private const string Prompt = "The quick brown fox";

    private async Task<JsonElement> CompleteAsync(string model, int maxTokens, string extra = "")
    {
        using var response = await fx.Http.PostAsync("v1/completions",
            ServerFixture.Json($$"""{"model": "{{model}}", "prompt": "{{Prompt}}", "max_tokens": {{maxTokens}}, "temperature": 0{{extra}}}"""));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await ServerFixture.ReadJsonAsync(response);
    }

    [Theory]
    [InlineData(ServerFixture.BaseName, null)]
    [InlineData("alpha", "alpha")]
    [InlineData(ServerFixture.BaseName + ":beta", "beta")]
    public async Task Greedy_completion_equals_the_one_sequence_reference(string model, string? adapter)
    {
        var json = await CompleteAsync(model, 12);
        var expected = fx.ReferenceGreedy(fx.Reference.Tokenizer.Encode(Prompt), 12, adapter);
        Assert.Equal("text_completion", json.GetProperty("object").GetString());
        Assert.Equal(model, json.GetProperty("model").GetString());
        Assert.StartsWith("cmpl-", json.GetProperty("id").GetString());
        var choice = json.GetProperty("choices")[0];
        Assert.Equal(expected.Text, choice.GetProperty("text").GetString());
        Assert.Equal(expected.Finish, choice.GetProperty("finish_reason").GetString());
        var usage = json.GetProperty("usage");
        Assert.Equal(fx.Reference.Tokenizer.Encode(Prompt).Count, usage.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(expected.Tokens, usage.GetProperty("completion_tokens").GetInt32());
        Assert.Equal(usage.GetProperty("prompt_tokens").GetInt32() + expected.Tokens, usage.GetProperty("total_tokens").GetInt32());
    }

    [Fact]
    public async Task Adapters_change_the_output()
    {
        var b = (await CompleteAsync(ServerFixture.BaseName, 12)).GetProperty("choices")[0].GetProperty("text").GetString();
        var a = (await CompleteAsync("alpha", 12)).GetProperty("choices")[0].GetProperty("text").GetString();
        Assert.NotEqual(b, a);
    }

    [Fact]
    public async Task Streamed_chunks_concatenate_to_the_whole_answer_and_end_with_usage_and_DONE()
    {
        var wholeJson = await CompleteAsync("alpha", 14);
        var whole = wholeJson.GetProperty("choices")[0];
        using var response = await fx.Http.PostAsync("v1/completions", ServerFixture.Json(
            $$$"""{"model": "alpha", "prompt": "{{{Prompt}}}", "max_tokens": 14, "temperature": 0, "stream": true, "stream_options": {"include_usage": true}}"""));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        var (events, done) = await SseReader.ReadAllAsync(response);
        Assert.True(done);
        var chunks = events.SkipLast(1).ToList();
        Assert.Equal(whole.GetProperty("text").GetString(), string.Concat(chunks.Select(e => e.GetProperty("choices")[0].GetProperty("text").GetString())));
        Assert.Equal(whole.GetProperty("finish_reason").GetString(), chunks[^1].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.All(chunks.SkipLast(1), e => Assert.Equal(JsonValueKind.Null, e.GetProperty("choices")[0].GetProperty("finish_reason").ValueKind));
        var usage = events[^1];
        Assert.Equal(0, usage.GetProperty("choices").GetArrayLength());
        Assert.Equal(wholeJson.GetProperty("usage").GetProperty("completion_tokens").GetInt32(), usage.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal(wholeJson.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(), usage.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
    }

    [Fact]
    public async Task Logprobs_follow_the_legacy_shape_and_match_the_reference()
    {
        var json = await CompleteAsync(ServerFixture.BaseName, 5, ", \"logprobs\": 3, \"ignore_eos\": true");
        var lp = json.GetProperty("choices")[0].GetProperty("logprobs");
        var prompt = fx.Reference.Tokenizer.Encode(Prompt);
        var reference = new LoraServe.Models.Generation.SingleSequenceGenerator(fx.Reference.Model)
            .Generate(prompt, new LoraServe.Models.Generation.GenerationOptions { MaxTokens = 5, IgnoreEos = true }).ToList();
        Assert.Equal(5, lp.GetProperty("tokens").GetArrayLength());
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(fx.Reference.Tokenizer.Decode([reference[i].TokenId], skipSpecialTokens: false), lp.GetProperty("tokens")[i].GetString());
            Assert.Equal(reference[i].LogProb, lp.GetProperty("token_logprobs")[i].GetSingle(), 3);
            var top = lp.GetProperty("top_logprobs")[i];
            Assert.InRange(top.EnumerateObject().Count(), 3, 4);
            // The chosen (greedy) token is the most likely one.
            Assert.Equal(top.EnumerateObject().Max(p => p.Value.GetSingle()), lp.GetProperty("token_logprobs")[i].GetSingle(), 4);
        }
        var offsets = lp.GetProperty("text_offset").EnumerateArray().Select(e => e.GetInt32()).ToList();
        Assert.Equal(0, offsets[0]);
        Assert.Equal(offsets.OrderBy(o => o), offsets);
    }

    [Fact]
    public async Task Stop_strings_end_the_output_and_are_left_out()
    {
        var free = (await CompleteAsync(ServerFixture.BaseName, 24, ", \"ignore_eos\": true")).GetProperty("choices")[0].GetProperty("text").GetString()!;
        Assert.True(free.Length >= 6, $"need some text to cut, got '{free}'");
        string stop = free.Substring(free.Length / 2, 2);
        int cut = free.IndexOf(stop, StringComparison.Ordinal);
        foreach (bool stream in new[] { false, true })
        {
            using var response = await fx.Http.PostAsync("v1/completions", ServerFixture.Json(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["model"] = ServerFixture.BaseName, ["prompt"] = Prompt, ["max_tokens"] = 24, ["temperature"] = 0, ["ignore_eos"] = true, ["stop"] = new[] { stop }, ["stream"] = stream,
            })));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            string text;
            string? finish;
            if (stream)
            {
                var (events, done) = await SseReader.ReadAllAsync(response);
                Assert.True(done);
                text = string.Concat(events.Select(e => e.GetProperty("choices")[0].GetProperty("text").GetString()));
                finish = events[^1].GetProperty("choices")[0].GetProperty("finish_reason").GetString();
            }
            else
            {
                var choice = (await ServerFixture.ReadJsonAsync(response)).GetProperty("choices")[0];
                text = choice.GetProperty("text").GetString()!;
                finish = choice.GetProperty("finish_reason").GetString();
            }
            Assert.True(free[..cut] == text, $"free '{free}', stop '{stop}', got '{text}' (stream {stream})");
            Assert.Equal("stop", finish);
        }
    }

    [Fact]
    public async Task Token_id_prompts_are_accepted()
    {
        var ids = fx.Reference.Tokenizer.Encode(Prompt);
        using var response = await fx.Http.PostAsync("v1/completions", ServerFixture.Json(
            $$"""{"model": "{{ServerFixture.BaseName}}", "prompt": [{{string.Join(",", ids)}}], "max_tokens": 6, "temperature": 0}"""));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = await ServerFixture.ReadJsonAsync(response);
        Assert.Equal(fx.ReferenceGreedy(ids, 6, null).Text, json.GetProperty("choices")[0].GetProperty("text").GetString());
    }
}
