using LoraServe.Engine;
using LoraServe.Lora.Registry;
using LoraServe.Models;
using LoraServe.Models.Chat;
using LoraServe.Models.Tokenization;
using LoraServe.Server.Auth;
using LoraServe.Server.Metrics;
using LoraServe.Server.Security;

namespace LoraServe.Server.Serving;

/// <summary>Everything the endpoints share for one served model: engine, tokenizer, chat template, catalog, auth, admission, metrics.</summary>
public sealed class ServingContext
{
    internal ServingContext(PretrainedModel model, LlmEngine engine, AdapterRegistry adapters, ModelCatalog catalog, ApiKeyAuthenticator authenticator,
        AdapterPathPolicy paths, AdmissionControl admission, ServerMetrics metrics, ChatTemplate? chatTemplate, string? chatTemplateError)
    {
        Model = model;
        Engine = engine;
        Adapters = adapters;
        Catalog = catalog;
        Authenticator = authenticator;
        Paths = paths;
        Admission = admission;
        Metrics = metrics;
        ChatTemplate = chatTemplate;
        ChatTemplateError = chatTemplateError;
    }

    public PretrainedModel Model { get; }
    public HfTokenizer Tokenizer => Model.Tokenizer;
    public LlmEngine Engine { get; }
    public AdapterRegistry Adapters { get; }
    public ModelCatalog Catalog { get; }
    public ApiKeyAuthenticator Authenticator { get; }
    public AdapterPathPolicy Paths { get; }
    public AdmissionControl Admission { get; }
    public ServerMetrics Metrics { get; }

    /// <summary>The model's template, or ChatML when it has none; null when its template failed to parse.</summary>
    public ChatTemplate? ChatTemplate { get; }

    /// <summary>Why the model's chat template cannot be used (chat requests answer 400 with it).</summary>
    public string? ChatTemplateError { get; }

    /// <summary>Serialises load and unload, so "already loaded" and "cannot be found" are decided atomically per name.</summary>
    internal SemaphoreSlim AdminGate { get; } = new(1, 1);
}
