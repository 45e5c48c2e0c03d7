namespace LoraServe.Models.Config;

/// <summary>The Llama-family architectures this engine runs (config.json "model_type").</summary>
public enum ModelArchitecture
{
    /// <summary>"llama": LlamaForCausalLM (Llama 2/3, SmolLM2, TinyLlama …).</summary>
    Llama,

    /// <summary>"mistral": MistralForCausalLM (sliding-window attention when configured).</summary>
    Mistral,

    /// <summary>"qwen2": Qwen2ForCausalLM (bias on q/k/v projections).</summary>
    Qwen2,
}
