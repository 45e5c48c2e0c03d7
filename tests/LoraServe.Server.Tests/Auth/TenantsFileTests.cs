using LoraServe.Server.Auth;

namespace LoraServe.Server.Tests.Auth;

public sealed class TenantsFileTests
{
    private const string K1 = "sk-one-0123456789abcdef", K2 = "sk-two-0123456789abcdef", Admin = "sk-adm-0123456789abcdef";

    [Fact]
    public void Keys_map_to_tenants_with_their_weights_and_models()
    {
        string json = """{"admin_keys": ["ADMIN"], "tenants": {"a": {"api_keys": ["K1"], "weight": 3, "adapters": ["x"], "base_model": false}, "b": {"api_keys": ["K2"], "adapters": "*"}}}""";
        var file = TenantsFile.Parse(json.Replace("ADMIN", Admin).Replace("K1", K1).Replace("K2", K2), "t.json");
        Assert.Equal(3, file.Tenants[0].Weight);
        Assert.Equal(1, file.Tenants[1].Weight);
        var auth = ApiKeyAuthenticator.FromTenants(file);
        var a = auth.Authenticate("Bearer " + K1)!;
        Assert.Equal("a", a.Tenant);
        Assert.True(a.MayUse("x"));
        Assert.False(a.MayUse("y"));
        Assert.False(a.MayUse(null));
        Assert.False(a.IsAdmin);
        var b = auth.Authenticate("bearer " + K2)!;
        Assert.True(b.MayUse("anything"));
        Assert.True(b.MayUse(null));
        Assert.True(auth.Authenticate("Bearer " + Admin)!.IsAdmin);
        Assert.Null(auth.Authenticate("Bearer " + K1 + "x"));
        Assert.Null(auth.Authenticate(null));
        Assert.Null(auth.Authenticate(K1));
    }

    [Theory]
    [InlineData("""{"tenants": {"a": {"api_keys": ["sk-one-0123456789abcdef"], "colour": "red"}}}""", "tenants.a.colour")]
    [InlineData("""{"tenants": {"a": {"api_keys": ["short"]}}}""", "at least 16")]
    [InlineData("""{"tenants": {"a": {"api_keys": ["sk-one-0123456789abcdef"], "weight": 0}}}""", "weight")]
    [InlineData("""{"tenants": {"a": {"api_keys": ["sk-one-0123456789abcdef"]}, "b": {"api_keys": ["sk-one-0123456789abcdef"]}}}""", "also used")]
    [InlineData("""{"admins": []}""", "admins")]
    [InlineData("""{"tenants": {"a": {"api_keys": ["sk-one-0123456789abcdef"], "adapters": "all"}}}""", "adapters")]
    [InlineData("""{"tenants": """, "invalid JSON")]
    public void Mistakes_stop_start_up_with_a_message_naming_them(string json, string mentions)
    {
        var e = Assert.Throws<FormatException>(() => TenantsFile.Parse(json, "tenants.json"));
        Assert.Contains("tenants.json", e.Message);
        Assert.Contains(mentions, e.Message);
    }

    [Fact]
    public void Single_key_and_open_modes_act_like_vllm()
    {
        var single = ApiKeyAuthenticator.SingleKey(K1);
        Assert.Equal(CallerIdentity.Default, single.Authenticate("Bearer " + K1));
        Assert.Null(single.Authenticate("Bearer " + K2));
        Assert.Equal(CallerIdentity.Default, ApiKeyAuthenticator.Open().Authenticate(null));
    }
}
