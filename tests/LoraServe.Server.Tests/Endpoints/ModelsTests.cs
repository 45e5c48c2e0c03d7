using System.ClientModel;
using LoraServe.Server.Tests.Support;
using OpenAI.Models;

namespace LoraServe.Server.Tests.Endpoints;

[Collection(ServerCollection.Name)]
public sealed class ModelsTests(ServerFixture fx)
{
    [Fact]
    public async Task Models_lists_the_base_and_every_adapter_with_root_and_parent()
    {
        var client = new OpenAIModelClient(new ApiKeyCredential(ServerFixture.AcmeKey), fx.ClientOptions());
        var ids = (await client.GetModelsAsync()).Value.Select(m => m.Id).ToList();
        Assert.Equal([ServerFixture.BaseName, "alpha", "beta"], ids.Where(id => id is ServerFixture.BaseName or "alpha" or "beta"));

        using var response = await fx.Http.GetAsync("v1/models");
        var json = await ServerFixture.ReadJsonAsync(response);
        Assert.Equal("list", json.GetProperty("object").GetString());
        var cards = json.GetProperty("data").EnumerateArray().ToDictionary(c => c.GetProperty("id").GetString()!);
        var b = cards[ServerFixture.BaseName];
        Assert.Equal("model", b.GetProperty("object").GetString());
        Assert.Equal("loraserve", b.GetProperty("owned_by").GetString());
        Assert.Equal(fx.Reference.Directory, b.GetProperty("root").GetString());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, b.GetProperty("parent").ValueKind);
        Assert.Equal(2048, b.GetProperty("max_model_len").GetInt32());
        var alpha = cards["alpha"];
        Assert.Equal(ServerFixture.BaseName, alpha.GetProperty("parent").GetString());
        Assert.Equal(Path.Combine(fx.AdapterRoot, "alpha"), alpha.GetProperty("root").GetString());
        Assert.True(alpha.GetProperty("created").GetInt64() > 1_700_000_000);
    }

    [Fact]
    public async Task A_tenant_sees_only_the_models_it_may_use()
    {
        using var response = await fx.Client(ServerFixture.BetaKey).GetAsync("v1/models");
        var ids = (await ServerFixture.ReadJsonAsync(response)).GetProperty("data").EnumerateArray().Select(c => c.GetProperty("id").GetString()).ToList();
        Assert.Equal(["beta"], ids);
    }
}
