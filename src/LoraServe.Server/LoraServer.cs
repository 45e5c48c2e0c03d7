using LoraServe.Engine;
using LoraServe.Engine.Scheduling;
using LoraServe.Lora.Registry;
using LoraServe.Models;
using LoraServe.Models.Chat;
using LoraServe.Server.Auth;
using LoraServe.Server.Endpoints;
using LoraServe.Server.Metrics;
using LoraServe.Server.Protocol;
using LoraServe.Server.Security;
using LoraServe.Server.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LoraServe.Server;

/// <summary>
/// The OpenAI-compatible server (DESIGN §6): loads the model, starts the engine, registers the
/// start-up adapters and serves HTTP on Kestrel until stopped. Start-up problems (bad model
/// directory, tenants file, adapter, flag) throw before anything listens.
/// </summary>
public sealed class LoraServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _disposed;

    private LoraServer(WebApplication app, ServingContext serving, Uri address)
    {
        _app = app;
        Serving = serving;
        Address = address;
    }

    /// <summary>Where the server listens, e.g. http://127.0.0.1:8000/ (the actual port when 0 was asked).</summary>
    public Uri Address { get; }

    public ServingContext Serving { get; }

    public static async Task<LoraServer> StartAsync(ServerOptions options, CancellationToken cancellationToken = default)
    {
        Validate(options);
        var tenants = options.TenantsFile is { } file ? TenantsFile.Load(file) : null;
        var authenticator = tenants is not null ? ApiKeyAuthenticator.FromTenants(tenants)
            : options.ApiKey is { } key ? ApiKeyAuthenticator.SingleKey(key) : ApiKeyAuthenticator.Open();
        var paths = new AdapterPathPolicy(options.AdapterRoots);

        var model = PretrainedModel.Load(options.ModelDirectory, options.WeightPlacement);
        LlmEngine? engine = null;
        try
        {
            int context = model.Config.MaxPositionEmbeddings;
            // One block more than a full context, plus the 1 % watermark, so any prompt the context allows also fits the pool.
            int fullContextBlocks = (int)Math.Ceiling(context / (double)options.BlockSize * 1.02) + 2;
            int blocks = options.NumKvBlocks ?? Math.Max(512, fullContextBlocks);
            if (blocks < fullContextBlocks)
                throw new ArgumentException($"--num-kv-blocks {blocks} cannot hold one sequence of the model's full context ({context} tokens at --block-size {options.BlockSize}); use at least {fullContextBlocks}");
            var engineOptions = new EngineOptions
            {
                NumKvBlocks = blocks,
                BlockSize = options.BlockSize,
                Policy = options.Scheduler,
                LoraPolicy = options.LoraPolicy,
                EosTokenIds = model.EosTokenIds,
                Scheduler = new SchedulerOptions { MaxNumSeqs = options.MaxNumSeqs, MaxNumBatchedTokens = options.MaxNumBatchedTokens, MaxLoras = options.MaxLoras },
                Fairness = new FairnessOptions { TenantWeights = tenants?.Tenants.ToDictionary(t => t.Name, t => t.Weight) ?? new Dictionary<string, double>() },
            };
            engineOptions.Validate();
            var registry = new AdapterRegistry(model.Config, new AdapterRegistryOptions { MaxCpuLoras = options.MaxCpuLoras, MaxLoraRank = options.MaxLoraRank });
            engine = new LlmEngine(model.Model, engineOptions, registry, model.Tokenizer);

            var catalog = new ModelCatalog(options.ServedModelName ?? options.ModelDirectory, model.Directory, context);
            ChatTemplate? template = null;
            string? templateError = null;
            try
            {
                template = ChatTemplate.FromTokenizerConfig(model.Directory) ?? ChatTemplate.ChatML;
            }
            catch (ChatTemplateException e)
            {
                templateError = e.Message;
            }
            var serving = new ServingContext(model, engine, registry, catalog, authenticator, paths, new AdmissionControl(options.MaxWaiting), new ServerMetrics(), template, templateError);
            foreach (var (name, path) in options.LoraModules) RegisterStartupAdapter(serving, name, path);

            var app = Build(options, serving);
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            if (options.Log)
            {
                app.Logger.LogInformation("serving {Model} ({Adapters} adapters) on {Address}; scheduler {Policy}, LoRA policy {LoraPolicy}, {Blocks} KV blocks of {BlockSize}",
                    catalog.BaseName, catalog.Adapters.Count(), address, options.Scheduler, options.LoraPolicy, blocks, options.BlockSize);
                if (templateError is not null) app.Logger.LogWarning("the model's chat template cannot be used; chat requests will get 400: {Error}", templateError);
            }
            return new LoraServer(app, serving, new Uri(address.EndsWith('/') ? address : address + "/"));
        }
        catch
        {
            if (engine is not null) await engine.DisposeAsync().ConfigureAwait(false);
            model.Dispose();
            throw;
        }
    }

    private static void Validate(ServerOptions o)
    {
        if (o.ApiKey is not null && o.TenantsFile is not null)
            throw new ArgumentException("--api-key and --tenants cannot be combined: put admin keys in the tenants file's \"admin_keys\"");
        if (o.MaxWaiting < 1) throw new ArgumentException($"--max-waiting must be ≥ 1, got {o.MaxWaiting}");
        if (o.MaxBodyBytes < 1024) throw new ArgumentException($"--max-body-bytes must be ≥ 1024, got {o.MaxBodyBytes}");
        if (o.Port is < 0 or > 65535) throw new ArgumentException($"--port must be in 0..65535, got {o.Port}");
        if (o.DrainTimeout < TimeSpan.Zero) throw new ArgumentException("--drain-timeout must not be negative");
    }

    /// <summary>--lora-modules come from the operator: loaded at start-up without the adapter-root check, failing start-up if broken.</summary>
    private static void RegisterStartupAdapter(ServingContext serving, string name, string path)
    {
        try
        {
            serving.Catalog.ValidateNewName(name);
            if (serving.Catalog.Contains(name)) throw new ArgumentException($"--lora-modules names '{name}' twice");
            string directory = Path.GetFullPath(path);
            LoraAdapterEndpoints.Register(serving, name, directory, path);
            serving.Catalog.TryAdd(new ServedAdapter(name, directory, DateTimeOffset.UtcNow.ToUnixTimeSeconds()));
        }
        catch (ApiException e)
        {
            throw new ArgumentException($"--lora-modules {name}={path}: {e.Message}", e);
        }
    }

    private static WebApplication Build(ServerOptions options, ServingContext serving)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        if (options.Log)
        {
            builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
            builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        }
        builder.WebHost.UseKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = options.MaxBodyBytes;
            k.AddServerHeader = false;
        });
        builder.WebHost.UseUrls($"http://{(options.Host.Contains(':') ? $"[{options.Host}]" : options.Host)}:{options.Port}");
        builder.Services.AddSingleton(serving);
        builder.Services.AddHostedService(_ => new EngineLifetime(serving, options.DrainTimeout));
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = options.DrainTimeout + TimeSpan.FromSeconds(15));

        var app = builder.Build();
        app.Use(async (context, next) =>
        {
            try
            {
                await next(context).ConfigureAwait(false);
            }
            catch (Exception e) when (!context.RequestAborted.IsCancellationRequested)
            {
                // A bug, not a refusal: answer in the API's shape and keep serving.
                app.Logger.LogError(e, "unhandled error on {Path}", context.Request.Path);
                await ApiResults.WriteErrorAsync(context, serving, new ApiException(500, "InternalServerError", "Internal server error.")).ConfigureAwait(false);
            }
        });
        app.UseMiddleware<ApiKeyMiddleware>();
        long maxBody = options.MaxBodyBytes;
        app.MapPost("/v1/completions", (HttpContext c) => CompletionsEndpoint.HandleAsync(c, serving, maxBody));
        app.MapPost("/v1/chat/completions", (HttpContext c) => ChatCompletionsEndpoint.HandleAsync(c, serving, maxBody));
        app.MapGet("/v1/models", (HttpContext c) => ModelsEndpoint.HandleAsync(c, serving));
        app.MapPost("/v1/load_lora_adapter", (HttpContext c) => LoraAdapterEndpoints.LoadAsync(c, serving, maxBody));
        app.MapPost("/v1/unload_lora_adapter", (HttpContext c) => LoraAdapterEndpoints.UnloadAsync(c, serving, maxBody));
        app.MapGet("/health", (HttpContext c) => HealthEndpoint.HandleAsync(c, serving));
        app.MapGet("/metrics", (HttpContext c) => MetricsEndpoint.HandleAsync(c, serving));
        app.MapFallback((HttpContext c) => ApiResults.WriteErrorAsync(c, serving, ApiException.NotFound($"No route {c.Request.Method} {c.Request.Path}.")));
        return app;
    }

    /// <summary>Completes when the host shuts down (Ctrl+C, SIGTERM, or <see cref="StopAsync"/>).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => _app.WaitForShutdownAsync(cancellationToken);

    /// <summary>Graceful stop: 503 for new requests, drain (then cancel) in-flight ones, close Kestrel.</summary>
    public Task StopAsync(CancellationToken cancellationToken = default) => _app.StopAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        await Serving.Engine.DisposeAsync().ConfigureAwait(false);
        Serving.Model.Dispose();
    }
}
