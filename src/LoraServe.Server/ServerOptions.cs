using LoraServe.Engine.LoraBatching;
using LoraServe.Engine.Scheduling;
using LoraServe.Models.Weights;

namespace LoraServe.Server;

/// <summary>
/// Settings of `loraserve serve`; flag names as vLLM's where vLLM has the setting
/// (--max-loras, --max-num-seqs …), ours for tenants, adapter roots and admission bounds.
/// </summary>
public sealed record ServerOptions
{
    /// <summary>--model: Hugging Face model directory.</summary>
    public required string ModelDirectory { get; init; }

    /// <summary>--weights: where the weight matrices live (mapped files or a resident huge-page arena).</summary>
    public WeightPlacement WeightPlacement { get; init; } = WeightPlacement.Auto;

    /// <summary>--served-model-name: the base model's id in the API; default: --model as given.</summary>
    public string? ServedModelName { get; init; }

    /// <summary>--lora-modules name=path: adapters served from start-up (trusted: not restricted to adapter roots).</summary>
    public IReadOnlyList<(string Name, string Path)> LoraModules { get; init; } = [];

    public string Host { get; init; } = "127.0.0.1";

    /// <summary>--port; 0 picks a free port (tests).</summary>
    public int Port { get; init; } = 8000;

    /// <summary>--api-key: vLLM's single key (ignored with a tenants file, which is an error to combine with it).</summary>
    public string? ApiKey { get; init; }

    /// <summary>--tenants FILE: see <see cref="Auth.TenantsFile"/>.</summary>
    public string? TenantsFile { get; init; }

    /// <summary>--adapter-root: directories below which POST /v1/load_lora_adapter may read. None: runtime loading is off.</summary>
    public IReadOnlyList<string> AdapterRoots { get; init; } = [];

    /// <summary>--max-waiting: requests waiting for their first token before new ones get 429.</summary>
    public int MaxWaiting { get; init; } = 256;

    /// <summary>--max-body-bytes: request bodies above this get 413.</summary>
    public long MaxBodyBytes { get; init; } = 4 << 20;

    /// <summary>--drain-timeout: on shutdown, how long in-flight requests may finish before they are cancelled.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>--scheduler: fairness policy name (weighted-vtc = VTC using the tenants file's weights).</summary>
    public string Scheduler { get; init; } = FairnessPolicies.WeightedVtc;

    /// <summary>--lora-policy: how batches execute their adapters (unmerged, merged, dlora); dlora calibrates its cost model at start-up.</summary>
    public string LoraPolicy { get; init; } = LoraBatchingPolicies.Unmerged;

    public int MaxNumSeqs { get; init; } = 64;
    public int MaxNumBatchedTokens { get; init; } = 512;

    /// <summary>--max-loras: distinct adapters per batch (0 = no limit).</summary>
    public int MaxLoras { get; init; }

    public int MaxCpuLoras { get; init; } = 64;
    public int MaxLoraRank { get; init; } = 64;

    /// <summary>--num-kv-blocks: the KV pool; null: 512 blocks, or more when one full-context sequence needs more (so any valid prompt fits).</summary>
    public int? NumKvBlocks { get; init; }

    public int BlockSize { get; init; } = 16;

    /// <summary>Write start-up and warning logs to the console (the CLI); tests keep quiet.</summary>
    public bool Log { get; init; }
}
