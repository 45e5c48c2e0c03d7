using System.Text.Json;

namespace LoraServe.Server.Protocol;

/// <summary>POST /v1/load_lora_adapter body (vLLM's LoadLoRAAdapterRequest); missing fields are vLLM's InvalidUserInput 400.</summary>
internal sealed record LoadLoraAdapterRequest(string LoraName, string LoraPath)
{
    public static LoadLoraAdapterRequest Parse(JsonElement body)
    {
        var f = new RequestFields(body, "");
        string? name = f.String("lora_name");
        string? path = f.String("lora_path");
        f.NeutralOnly("load_inplace", v => v.ValueKind == JsonValueKind.False, "replace an adapter by unloading it first");
        f.RejectUnknown();
        if (string.IsNullOrEmpty(name) || string.IsNullOrEmpty(path))
            throw ApiException.InvalidUserInput("Both 'lora_name' and 'lora_path' must be provided.", string.IsNullOrEmpty(name) ? "lora_name" : "lora_path");
        return new LoadLoraAdapterRequest(name, path);
    }
}

/// <summary>POST /v1/unload_lora_adapter body (vLLM's UnloadLoRAAdapterRequest).</summary>
internal sealed record UnloadLoraAdapterRequest(string LoraName)
{
    public static UnloadLoraAdapterRequest Parse(JsonElement body)
    {
        var f = new RequestFields(body, "");
        string? name = f.String("lora_name");
        // vLLM's numeric id has no meaning here; accepted only alongside the name it would duplicate.
        f.Integer("lora_int_id", long.MinValue, long.MaxValue);
        f.RejectUnknown();
        if (string.IsNullOrEmpty(name)) throw ApiException.InvalidUserInput("'lora_name' needs to be provided to unload a LoRA adapter.", "lora_name");
        return new UnloadLoraAdapterRequest(name);
    }
}
