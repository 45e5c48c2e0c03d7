using System.Net;
using System.Text.Json;
using LoraServe.Server.Tests.Support;

namespace LoraServe.Server.Tests.Endpoints;

/// <summary>
/// Table-driven refusals: each bad request gets its status and OpenAI's error shape
/// ({"error": {"message", "type", "param", "code"}} with code = status and param naming the field),
/// and the server stays healthy after every one.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class BadInputTests(ServerFixture fx)
{
    private const string C = "v1/completions";
    private const string Chat = "v1/chat/completions";
    private const string Load = "v1/load_lora_adapter";
    private const string Ok = """ "model": "tiny-base", "prompt": "hi" """;
    private const string OkChat = """ "model": "tiny-base", "messages": [{"role": "user", "content": "hi"}] """;

    public static TheoryData<string, string, string, string, int, string?> Cases => new()
    {
        // name, route, key, body, status, param
        { "malformed JSON", C, "acme", """{"model": "tiny-base", "prompt": "hi" """, 400, null },
        { "empty body", C, "acme", "", 400, null },
        { "body not an object", C, "acme", "[1, 2]", 400, null },
        { "max_tokens wrong type", C, "acme", $$"""{ {{Ok}}, "max_tokens": "ten" }""", 400, "max_tokens" },
        { "max_tokens negative", C, "acme", $$"""{ {{Ok}}, "max_tokens": -5 }""", 400, "max_tokens" },
        { "max_tokens zero", C, "acme", $$"""{ {{Ok}}, "max_tokens": 0 }""", 400, "max_tokens" },
        { "max_tokens fractional", C, "acme", $$"""{ {{Ok}}, "max_tokens": 2.5 }""", 400, "max_tokens" },
        { "max_tokens huge", C, "acme", $$"""{ {{Ok}}, "max_tokens": 1e12 }""", 400, "max_tokens" },
        { "max_tokens past the context", C, "acme", $$"""{ {{Ok}}, "max_tokens": 5000 }""", 400, "max_tokens" },
        { "unknown field", C, "acme", $$"""{ {{Ok}}, "frobnicate": true }""", 400, "frobnicate" },
        { "temperature wrong type", C, "acme", $$"""{ {{Ok}}, "temperature": "hot" }""", 400, "temperature" },
        { "temperature negative", C, "acme", $$"""{ {{Ok}}, "temperature": -1 }""", 400, "temperature" },
        { "top_p zero", C, "acme", $$"""{ {{Ok}}, "top_p": 0 }""", 400, "top_p" },
        { "top_k fractional", C, "acme", $$"""{ {{Ok}}, "top_k": 1.5 }""", 400, "top_k" },
        { "seed wrong type", C, "acme", $$"""{ {{Ok}}, "seed": "abc" }""", 400, "seed" },
        { "n = 2", C, "acme", $$"""{ {{Ok}}, "n": 2 }""", 400, "n" },
        { "stop wrong type", C, "acme", $$"""{ {{Ok}}, "stop": 5 }""", 400, "stop" },
        { "stop empty string", C, "acme", $$"""{ {{Ok}}, "stop": [""] }""", 400, "stop" },
        { "logprobs above 20", C, "acme", $$"""{ {{Ok}}, "logprobs": 21 }""", 400, "logprobs" },
        { "stream wrong type", C, "acme", $$"""{ {{Ok}}, "stream": "yes" }""", 400, "stream" },
        { "stream_options without stream", C, "acme", $$"""{ {{Ok}}, "stream_options": {"include_usage": true} }""", 400, "stream_options" },
        { "stream_options unknown field", C, "acme", $$$"""{ {{{Ok}}}, "stream": true, "stream_options": {"foo": 1} }""", 400, "stream_options.foo" },
        { "presence_penalty set", C, "acme", $$"""{ {{Ok}}, "presence_penalty": 0.5 }""", 400, "presence_penalty" },
        { "echo", C, "acme", $$"""{ {{Ok}}, "echo": true }""", 400, "echo" },
        { "model wrong type", C, "acme", """{"model": 5, "prompt": "hi"}""", 400, "model" },
        { "prompt missing", C, "acme", """{"model": "tiny-base"}""", 400, "prompt" },
        { "prompt wrong type", C, "acme", """{"model": "tiny-base", "prompt": 7}""", 400, "prompt" },
        { "two prompts", C, "acme", """{"model": "tiny-base", "prompt": ["a", "b"]}""", 400, "prompt" },
        { "token id outside the vocabulary", C, "acme", """{"model": "tiny-base", "prompt": [1, 999999]}""", 400, "prompt" },
        { "prompt longer than the context", C, "acme", $$"""{"model": "tiny-base", "prompt": [{{string.Join(",", Enumerable.Repeat(5, 2100))}}]}""", 400, "prompt" },
        { "unknown model", C, "acme", """{"model": "nope", "prompt": "hi"}""", 404, "model" },
        { "messages missing", Chat, "acme", """{"model": "tiny-base"}""", 400, "messages" },
        { "messages empty", Chat, "acme", """{"model": "tiny-base", "messages": []}""", 400, "messages" },
        { "bad role", Chat, "acme", """{"model": "tiny-base", "messages": [{"role": "wizard", "content": "hi"}]}""", 400, "messages[0].role" },
        { "content wrong type", Chat, "acme", """{"model": "tiny-base", "messages": [{"role": "user", "content": 5}]}""", 400, "messages[0].content" },
        { "unknown message field", Chat, "acme", """{"model": "tiny-base", "messages": [{"role": "user", "content": "hi", "mood": "sad"}]}""", 400, "messages[0].mood" },
        { "image content part", Chat, "acme", """{"model": "tiny-base", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}""", 400, "messages[0].content[0].type" },
        { "tools", Chat, "acme", $$$"""{ {{{OkChat}}}, "tools": [{"type": "function", "function": {"name": "f"}}] }""", 400, "tools" },
        { "top_logprobs without logprobs", Chat, "acme", $$"""{ {{OkChat}}, "top_logprobs": 2 }""", 400, "top_logprobs" },
        { "logprobs wrong type", Chat, "acme", $$"""{ {{OkChat}}, "logprobs": 3 }""", 400, "logprobs" },
        { "max_completion_tokens negative", Chat, "acme", $$"""{ {{OkChat}}, "max_completion_tokens": -1 }""", 400, "max_completion_tokens" },
        { "no key", C, "none", $$"""{ {{Ok}} }""", 401, null },
        { "wrong key", C, "wrong", $$"""{ {{Ok}} }""", 401, null },
        { "wrong scheme", C, "basic", $$"""{ {{Ok}} }""", 401, null },
        { "traversal with ../", Load, "admin", """{"lora_name": "t1", "lora_path": "{root}/../outside/evil"}""", 400, "lora_path" },
        { "absolute path outside the roots", Load, "admin", """{"lora_name": "t2", "lora_path": "{outside}/evil"}""", 400, "lora_path" },
        { "folder symlink escaping the root", Load, "admin", """{"lora_name": "t3", "lora_path": "{root}/escape-dir"}""", 400, "lora_path" },
        { "file symlink escaping the root", Load, "admin", """{"lora_name": "t4", "lora_path": "{root}/escape-file"}""", 400, "lora_path" },
        { "relative path climbing out", Load, "admin", """{"lora_name": "t5", "lora_path": "../../../../../../../../etc"}""", 400, "lora_path" },
        { "missing adapter inside the root", Load, "admin", """{"lora_name": "t6", "lora_path": "{root}/nothing-here"}""", 404, "lora_path" },
        { "adapter name with a colon", Load, "admin", """{"lora_name": "a:b", "lora_path": "{root}/gamma"}""", 400, "lora_name" },
        { "adapter named like the base", Load, "admin", """{"lora_name": "tiny-base", "lora_path": "{root}/gamma"}""", 400, "lora_name" },
        { "load_inplace", Load, "admin", """{"lora_name": "t7", "lora_path": "{root}/gamma", "load_inplace": true}""", 400, "load_inplace" },
        { "not an adapter", Load, "admin", """{"lora_name": "t8", "lora_path": "{root}"}""", 400, "lora_path" },
        { "oversize body", C, "acme", "{oversize}", 413, null },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Bad_requests_get_their_status_and_the_error_shape_and_the_server_stays_healthy(string name, string route, string key, string body, int status, string? param)
    {
        string json = body.Replace("{root}", fx.AdapterRoot).Replace("{outside}", fx.Outside)
            .Replace("{oversize}", $$"""{"model": "tiny-base", "prompt": "{{new string('x', 300 * 1024)}}"}""");
        using var client = key switch
        {
            "acme" => fx.Client(ServerFixture.AcmeKey),
            "admin" => fx.Client(ServerFixture.AdminKey),
            "none" => fx.Client(null),
            "wrong" => fx.Client("sk-not-a-key-0123456789"),
            _ => fx.Client(null),
        };
        if (key == "basic") client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic", ServerFixture.AcmeKey);
        using var response = await client.PostAsync(route, ServerFixture.Json(json));
        Assert.True(status == (int)response.StatusCode, $"{name}: expected {status}, got {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var error = (await ServerFixture.ReadJsonAsync(response)).GetProperty("error");
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()), name);
        Assert.Equal(JsonValueKind.String, error.GetProperty("type").ValueKind);
        Assert.Equal(status, error.GetProperty("code").GetInt32());
        if (param is null) Assert.Equal(JsonValueKind.Null, error.GetProperty("param").ValueKind);
        else Assert.Equal(param, error.GetProperty("param").GetString());

        using var health = await fx.Client(null).GetAsync("health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.False(fx.Server.Serving.Adapters.Names.Any(n => n.StartsWith('t') && n.Length == 2), "a refused adapter stayed registered");
    }
}
