using System.Net;
using LoraServe.Server.Tests.Support;

namespace LoraServe.Server.Tests.Endpoints;

/// <summary>vLLM's runtime adapter API: load → use → unload → 404, its responses, and who may call it.</summary>
[Collection(ServerCollection.Name)]
public sealed class LoraAdapterAdminTests(ServerFixture fx)
{
    private static StringContent Load(string name, string path) =>
        ServerFixture.Json(System.Text.Json.JsonSerializer.Serialize(new { lora_name = name, lora_path = path }));

    private async Task<HttpResponseMessage> CompleteAsync(HttpClient client, string model) =>
        await client.PostAsync("v1/completions", ServerFixture.Json($$"""{"model": "{{model}}", "prompt": "Once upon a time", "max_tokens": 8, "temperature": 0}"""));

    [Fact]
    public async Task Load_use_unload_then_404()
    {
        using var admin = fx.Client(ServerFixture.AdminKey);
        using var loaded = await admin.PostAsync("v1/load_lora_adapter", Load("gamma", Path.Combine(fx.AdapterRoot, "gamma")));
        Assert.Equal(HttpStatusCode.OK, loaded.StatusCode);
        Assert.Equal("Success: LoRA adapter 'gamma' added successfully.", await loaded.Content.ReadAsStringAsync());

        using var again = await admin.PostAsync("v1/load_lora_adapter", Load("gamma", Path.Combine(fx.AdapterRoot, "gamma")));
        Assert.Equal(HttpStatusCode.BadRequest, again.StatusCode);
        var dup = (await ServerFixture.ReadJsonAsync(again)).GetProperty("error");
        Assert.Equal("The lora adapter 'gamma' has already been loaded.", dup.GetProperty("message").GetString());
        Assert.Equal("InvalidUserInput", dup.GetProperty("type").GetString());

        using (var models = await fx.Http.GetAsync("v1/models"))
            Assert.Contains("\"gamma\"", await models.Content.ReadAsStringAsync());
        using var used = await CompleteAsync(fx.Http, "gamma");
        Assert.Equal(HttpStatusCode.OK, used.StatusCode);
        var text = (await ServerFixture.ReadJsonAsync(used)).GetProperty("choices")[0].GetProperty("text").GetString();
        Assert.Equal(fx.ReferenceGreedy(fx.Reference.Tokenizer.Encode("Once upon a time"), 8, "gamma").Text, text);

        using var unloaded = await admin.PostAsync("v1/unload_lora_adapter", ServerFixture.Json("""{"lora_name": "gamma"}"""));
        Assert.Equal(HttpStatusCode.OK, unloaded.StatusCode);
        Assert.Equal("Success: LoRA adapter 'gamma' removed successfully.", await unloaded.Content.ReadAsStringAsync());
        Assert.False(fx.Server.Serving.Adapters.IsRegistered("gamma"));

        using var gone = await CompleteAsync(fx.Http, "gamma");
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        using var unloadAgain = await admin.PostAsync("v1/unload_lora_adapter", ServerFixture.Json("""{"lora_name": "gamma"}"""));
        Assert.Equal(HttpStatusCode.NotFound, unloadAgain.StatusCode);
        var missing = (await ServerFixture.ReadJsonAsync(unloadAgain)).GetProperty("error");
        Assert.Equal("The lora adapter 'gamma' cannot be found.", missing.GetProperty("message").GetString());
        Assert.Equal("NotFoundError", missing.GetProperty("type").GetString());
        Assert.Equal(404, missing.GetProperty("code").GetInt32());
    }

    [Fact]
    public async Task Tenant_keys_may_not_load_or_unload()
    {
        using var tenant = await fx.Http.PostAsync("v1/load_lora_adapter", Load("gamma2", Path.Combine(fx.AdapterRoot, "gamma")));
        Assert.Equal(HttpStatusCode.Forbidden, tenant.StatusCode);
        using var unload = await fx.Http.PostAsync("v1/unload_lora_adapter", ServerFixture.Json("""{"lora_name": "alpha"}"""));
        Assert.Equal(HttpStatusCode.Forbidden, unload.StatusCode);
        Assert.True(fx.Server.Serving.Adapters.IsRegistered("alpha"));
        Assert.False(fx.Server.Serving.Adapters.IsRegistered("gamma2"));
    }

    [Fact]
    public async Task Missing_name_or_path_is_vllms_invalid_user_input()
    {
        using var admin = fx.Client(ServerFixture.AdminKey);
        using var response = await admin.PostAsync("v1/load_lora_adapter", ServerFixture.Json("""{"lora_name": "x"}"""));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = (await ServerFixture.ReadJsonAsync(response)).GetProperty("error");
        Assert.Equal("Both 'lora_name' and 'lora_path' must be provided.", error.GetProperty("message").GetString());
        Assert.Equal("InvalidUserInput", error.GetProperty("type").GetString());
    }
}
