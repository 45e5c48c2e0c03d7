using System.CommandLine;
using LoraServe.Engine.LoraBatching;
using LoraServe.Engine.Scheduling;
using LoraServe.Engine.Workload;
using LoraServe.Models.Config;
using LoraServe.Server;

namespace LoraServe.Cli.Commands;

/// <summary>
/// `loraserve serve`: the OpenAI-compatible server (docs/server.md). Flags are named as vLLM's
/// where vLLM has the setting. Without --model it serves the repository's models/default (a small
/// trained model and its adapters) when present, else the embedded default model with two random
/// adapters generated into the local cache, so the first command of the README just works.
/// </summary>
internal static class ServeCommand
{
    public const string DefaultServedName = "loraserve-default";

    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "Hugging Face model directory (default: models/default of the repository, else the embedded default model)" };
        var servedName = new Option<string?>("--served-model-name") { Description = "The base model's id in the API (default: --model as given)" };
        var loraModules = new Option<string[]>("--lora-modules") { Description = "Adapters to serve from start-up, as name=path (repeatable)", AllowMultipleArgumentsPerToken = true };
        var maxLoras = new Option<int>("--max-loras") { Description = "Distinct adapters in one batch; 0 = no limit", DefaultValueFactory = _ => 0 };
        var maxLoraRank = new Option<int>("--max-lora-rank") { Description = "Largest adapter rank accepted", DefaultValueFactory = _ => 64 };
        var maxCpuLoras = new Option<int>("--max-cpu-loras") { Description = "Adapters kept loaded in host memory", DefaultValueFactory = _ => 64 };
        var maxNumSeqs = new Option<int>("--max-num-seqs") { Description = "Sequences in the running batch", DefaultValueFactory = _ => 64 };
        var maxBatchedTokens = new Option<int>("--max-num-batched-tokens") { Description = "Tokens per engine step (prefill chunks + decodes)", DefaultValueFactory = _ => 512 };
        var host = new Option<string>("--host") { Description = "Address to listen on", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "Port to listen on", DefaultValueFactory = _ => 8000 };
        var apiKey = new Option<string?>("--api-key") { Description = "Require this bearer key on /v1 (as vLLM); default: $LORASERVE_API_KEY" };
        var scheduler = new Option<string>("--scheduler") { Description = $"Fairness policy: {string.Join(", ", FairnessPolicies.Names)}", DefaultValueFactory = _ => FairnessPolicies.WeightedVtc };
        var loraPolicy = new Option<string>("--lora-policy") { Description = $"How batches run their adapters: {string.Join(", ", LoraBatchingPolicies.Names)} (dlora = dynamic merge/unmerge, cost model calibrated at start-up)", DefaultValueFactory = _ => LoraBatchingPolicies.Unmerged };
        var tenants = new Option<string?>("--tenants") { Description = "Tenants file: API keys → tenant, VTC weight, allowed adapters; admin keys (docs/server.md)" };
        var adapterRoots = new Option<string[]>("--adapter-root") { Description = "Directory below which /v1/load_lora_adapter may read (repeatable); none = runtime loading off", AllowMultipleArgumentsPerToken = true };
        var maxWaiting = new Option<int>("--max-waiting") { Description = "Requests waiting for a first token before new ones get 429", DefaultValueFactory = _ => 256 };
        var maxBody = new Option<long>("--max-body-bytes") { Description = "Largest request body; larger gets 413", DefaultValueFactory = _ => 4L << 20 };
        var kvBlocks = new Option<int?>("--num-kv-blocks") { Description = "KV cache blocks (default: 512, or one full context if more)" };
        var blockSize = new Option<int>("--block-size") { Description = "Tokens per KV block", DefaultValueFactory = _ => 16 };
        var drain = new Option<double>("--drain-timeout") { Description = "Seconds in-flight requests may finish on shutdown before they are cancelled", DefaultValueFactory = _ => 30 };

        var command = new Command("serve", "Serve an OpenAI-compatible API (completions, chat, models, LoRA adapters, metrics)");
        var weights = WeightsOption.Create();
        foreach (var o in new Option[] { model, weights, servedName, loraModules, maxLoras, maxLoraRank, maxCpuLoras, maxNumSeqs, maxBatchedTokens, host, port, apiKey, scheduler, loraPolicy, tenants, adapterRoots, maxWaiting, maxBody, kvBlocks, blockSize, drain })
            command.Options.Add(o);
        // A synchronous action on purpose: the web host's own console lifetime then handles Ctrl+C and SIGTERM
        // with a graceful drain, instead of System.CommandLine's short process-termination timeout.
        command.SetAction(parse =>
        {
            try
            {
                var modules = new List<(string, string)>();
                foreach (var m in parse.GetValue(loraModules) ?? [])
                {
                    int eq = m.IndexOf('=');
                    if (eq <= 0 || eq == m.Length - 1) throw new ArgumentException($"--lora-modules expects name=path, got '{m}'");
                    modules.Add((m[..eq], m[(eq + 1)..]));
                }
                string? dir = parse.GetValue(model);
                string? served = parse.GetValue(servedName);
                if (dir is null)
                {
                    dir = FindRepositoryDefault() ?? DefaultModel.EnsureCreated(Console.Error);
                    served ??= DefaultServedName;
                    if (modules.Count == 0) modules.AddRange(DefaultAdapters(dir));
                }
                var options = new ServerOptions
                {
                    ModelDirectory = dir, WeightPlacement = parse.GetValue(weights), ServedModelName = served, LoraModules = modules,
                    Host = parse.GetValue(host)!, Port = parse.GetValue(port),
                    ApiKey = parse.GetValue(apiKey) ?? (Environment.GetEnvironmentVariable("LORASERVE_API_KEY") is { Length: > 0 } k ? k : null),
                    TenantsFile = parse.GetValue(tenants), AdapterRoots = parse.GetValue(adapterRoots) ?? [],
                    MaxWaiting = parse.GetValue(maxWaiting), MaxBodyBytes = parse.GetValue(maxBody), DrainTimeout = TimeSpan.FromSeconds(parse.GetValue(drain)),
                    Scheduler = parse.GetValue(scheduler)!, LoraPolicy = parse.GetValue(loraPolicy)!, MaxNumSeqs = parse.GetValue(maxNumSeqs), MaxNumBatchedTokens = parse.GetValue(maxBatchedTokens),
                    MaxLoras = parse.GetValue(maxLoras), MaxCpuLoras = parse.GetValue(maxCpuLoras), MaxLoraRank = parse.GetValue(maxLoraRank),
                    NumKvBlocks = parse.GetValue(kvBlocks), BlockSize = parse.GetValue(blockSize), Log = true,
                };
                return Run(options);
            }
            catch (Exception e) when (e is ArgumentException or FormatException or ModelFormatException or IOException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
        });
        return command;
    }

    private static int Run(ServerOptions options)
    {
        var server = LoraServer.StartAsync(options).GetAwaiter().GetResult();
        try
        {
            Console.Error.WriteLine($"loraserve: serving '{server.Serving.Catalog.BaseName}' and {server.Serving.Catalog.Adapters.Count()} adapters at {server.Address} (Ctrl+C stops, draining requests)");
            server.WaitForShutdownAsync().GetAwaiter().GetResult();
        }
        finally
        {
            server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        Console.Error.WriteLine("loraserve: stopped");
        return 0;
    }

    /// <summary>models/default/config.json of the repository: looked for from the working directory and from the executable upward.</summary>
    private static string? FindRepositoryDefault()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
            {
                string candidate = Path.Combine(d.FullName, "models", "default");
                if (File.Exists(Path.Combine(candidate, "config.json"))) return candidate;
            }
        }
        return null;
    }

    /// <summary>
    /// The default model's adapters: every folder with an adapter_config.json under MODEL/adapters. The
    /// cached embedded model has none of its own, so two random ones are generated there once
    /// (random weights: they show multi-adapter serving, not skills).
    /// </summary>
    private static IEnumerable<(string, string)> DefaultAdapters(string modelDir)
    {
        string adapters = Path.Combine(modelDir, "adapters");
        if (!Directory.Exists(adapters) && modelDir.StartsWith(DefaultModel.Directory, StringComparison.Ordinal))
        {
            string temp = adapters + ".tmp-" + Environment.ProcessId;
            var config = ModelConfigLoader.Load(modelDir);
            BenchAdapters.WriteRandom(Path.Combine(temp, "random-a"), "random-a", config, rank: 8, seed: 1);
            BenchAdapters.WriteRandom(Path.Combine(temp, "random-b"), "random-b", config, rank: 16, seed: 2);
            try
            {
                Directory.Move(temp, adapters);
            }
            catch (IOException) when (Directory.Exists(adapters))
            {
                // Another process generated them first (same seeds, same files).
                Directory.Delete(temp, recursive: true);
            }
        }
        if (!Directory.Exists(adapters)) yield break;
        foreach (var dir in Directory.EnumerateDirectories(adapters).Order(StringComparer.Ordinal))
            if (File.Exists(Path.Combine(dir, "adapter_config.json"))) yield return (Path.GetFileName(dir), dir);
    }
}
