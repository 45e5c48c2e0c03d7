using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using LoraServe.Core.Tensors;
using LoraServe.Engine.Workload;
using LoraServe.Lora.Adapters;
using LoraServe.Lora.Execution;
using LoraServe.Models;
using LoraServe.Models.Chat;
using LoraServe.Models.Config;
using LoraServe.Models.Creation;
using LoraServe.Models.Generation;
using OpenAI;

namespace LoraServe.Server.Tests.Support;

/// <summary>
/// A tiny float32 model (ModelDirectoryWriter), two start-up adapters (alpha, beta) and one more
/// (gamma) under the adapter root for the load/unload tests, a tenants file, and a real Kestrel
/// server on 127.0.0.1 with a free port. The reference side loads the same directories with
/// PretrainedModel and generates one sequence at a time (SingleSequenceGenerator), independent of
/// the engine, scheduler and HTTP layer under test.
/// </summary>
public sealed class ServerFixture : IAsyncLifetime
{
    public const string BaseName = "tiny-base";
    public const string AdminKey = "sk-admin-0123456789abcdef";
    public const string AcmeKey = "sk-acme-0123456789abcdef";
    public const string BetaKey = "sk-beta-0123456789abcdef";

    public string Root { get; } = Directory.CreateTempSubdirectory("server-tests-").FullName;
    public string ModelDir => Path.Combine(Root, "model");
    public string AdapterRoot => Path.Combine(Root, "adapters");
    public string Outside => Path.Combine(Root, "outside");
    public LoraServer Server { get; private set; } = null!;
    public PretrainedModel Reference { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        ModelDirectoryWriter.Write(ModelDir, "tiny", seed: 11, DType.F32);
        var config = ModelConfigLoader.Load(ModelDir);
        BenchAdapters.WriteRandom(Path.Combine(AdapterRoot, "alpha"), "alpha", config, rank: 8, seed: 1);
        BenchAdapters.WriteRandom(Path.Combine(AdapterRoot, "beta"), "beta", config, rank: 4, seed: 2);
        BenchAdapters.WriteRandom(Path.Combine(AdapterRoot, "gamma"), "gamma", config, rank: 8, seed: 3);
        BenchAdapters.WriteRandom(Path.Combine(Outside, "evil"), "evil", config, rank: 8, seed: 4);
        // Escapes for the security tests: a folder link and a file link from inside the root to outside it.
        Directory.CreateSymbolicLink(Path.Combine(AdapterRoot, "escape-dir"), Path.Combine(Outside, "evil"));
        Directory.CreateDirectory(Path.Combine(AdapterRoot, "escape-file"));
        File.CreateSymbolicLink(Path.Combine(AdapterRoot, "escape-file", "adapter_config.json"), Path.Combine(Outside, "evil", "adapter_config.json"));
        File.Copy(Path.Combine(Outside, "evil", "adapter_model.safetensors"), Path.Combine(AdapterRoot, "escape-file", "adapter_model.safetensors"));
        string tenants = Path.Combine(Root, "tenants.json");
        File.WriteAllText(tenants, $$"""
            { "admin_keys": ["{{AdminKey}}"],
              "tenants": {
                "acme": { "api_keys": ["{{AcmeKey}}"], "weight": 2, "adapters": "*" },
                "beta-co": { "api_keys": ["{{BetaKey}}"], "adapters": ["beta"], "base_model": false } } }
            """);
        Reference = PretrainedModel.Load(ModelDir);
        Server = await LoraServer.StartAsync(Options(tenants));
        Http = Client(AcmeKey);
    }

    public ServerOptions Options(string? tenants = null) => new()
    {
        ModelDirectory = ModelDir,
        ServedModelName = BaseName,
        Port = 0,
        TenantsFile = tenants,
        LoraModules = [("alpha", Path.Combine(AdapterRoot, "alpha")), ("beta", Path.Combine(AdapterRoot, "beta"))],
        AdapterRoots = [AdapterRoot],
        MaxNumSeqs = 8,
        MaxNumBatchedTokens = 256,
        MaxBodyBytes = 256 * 1024,
    };

    public HttpClient Client(string? key, LoraServer? server = null)
    {
        var client = new HttpClient { BaseAddress = (server ?? Server).Address, Timeout = TimeSpan.FromSeconds(60) };
        if (key is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    /// <summary>The official client, pointed at the test server, with retries off so a refusal is seen as it is.</summary>
    public OpenAIClientOptions ClientOptions() => new()
    {
        Endpoint = new Uri(Server.Address, "v1"),
        RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
        NetworkTimeout = TimeSpan.FromSeconds(60),
    };

    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    public static async Task<JsonElement> ReadJsonAsync(HttpResponseMessage response)
    {
        string text = await response.Content.ReadAsStringAsync();
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>Greedy text for a prompt, one sequence at a time on the same weights (no engine, no server).</summary>
    public (string Text, int Tokens, string Finish) ReferenceGreedy(IReadOnlyList<int> prompt, int maxTokens, string? adapter)
    {
        var delta = adapter is null ? null : new SingleAdapterDelta(PeftAdapterLoader.Load(Path.Combine(AdapterRoot, adapter), adapter, Reference.Config));
        var options = new GenerationOptions { MaxTokens = maxTokens, StopTokenIds = Reference.EosTokenIds };
        var tokens = new SingleSequenceGenerator(Reference.Model).Generate(prompt, options, delta).ToList();
        string text = Reference.Tokenizer.Decode(tokens.Select(t => t.TokenId).ToArray(), skipSpecialTokens: true);
        return (text, tokens.Count, tokens[^1].Finish == FinishReason.Stop ? "stop" : "length");
    }

    /// <summary>The prompt tokens the server builds for a chat: ChatML (the tiny model has no template), generation prompt, no added BOS.</summary>
    public IReadOnlyList<int> ChatPrompt(params (string Role, string Content)[] messages) =>
        Reference.Tokenizer.Encode(ChatTemplate.ChatML.Render(messages.Select(m => new ChatMessage(m.Role, m.Content)).ToList(), addGenerationPrompt: true), addSpecialTokens: false);

    /// <summary>Waits until the engine reports no running or waiting request and every KV block free.</summary>
    public static async Task WaitForIdleAsync(LoraServer server)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            var s = server.Serving.Engine.Statistics;
            if (s.KvBlocksUsed == 0 && s.Running == 0 && s.Waiting == 0 && server.Serving.Admission.InFlight == 0) return;
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"engine not idle: {s.KvBlocksUsed}/{s.KvBlocksTotal} KV blocks used, {s.Running} running, {s.Waiting} waiting, {server.Serving.Admission.InFlight} in flight");
            await Task.Delay(20);
        }
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
        Reference.Dispose();
        Directory.Delete(Root, recursive: true);
    }
}

[CollectionDefinition(Name)]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>
{
    public const string Name = "server";
}
