using LoraServe.Models.Config;

namespace LoraServe.Models.Llama;

/// <summary>The seven linear projections of a Llama decoder layer, by their HF module names.</summary>
public enum LinearKind
{
    /// <summary>self_attn.q_proj</summary>
    Q,
    /// <summary>self_attn.k_proj</summary>
    K,
    /// <summary>self_attn.v_proj</summary>
    V,
    /// <summary>self_attn.o_proj</summary>
    O,
    /// <summary>mlp.gate_proj</summary>
    Gate,
    /// <summary>mlp.up_proj</summary>
    Up,
    /// <summary>mlp.down_proj</summary>
    Down,
}

public static class LinearKinds
{
    public static readonly LinearKind[] All = [LinearKind.Q, LinearKind.K, LinearKind.V, LinearKind.O, LinearKind.Gate, LinearKind.Up, LinearKind.Down];

    /// <summary>The HF module name ("q_proj" …), as PEFT's target_modules spells it.</summary>
    public static string ModuleName(this LinearKind kind) => kind switch
    {
        LinearKind.Q => "q_proj",
        LinearKind.K => "k_proj",
        LinearKind.V => "v_proj",
        LinearKind.O => "o_proj",
        LinearKind.Gate => "gate_proj",
        LinearKind.Up => "up_proj",
        LinearKind.Down => "down_proj",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>The module's path inside a decoder layer ("self_attn.q_proj", "mlp.down_proj" …).</summary>
    public static string ModulePath(this LinearKind kind) => kind switch
    {
        LinearKind.Q or LinearKind.K or LinearKind.V or LinearKind.O => "self_attn." + kind.ModuleName(),
        _ => "mlp." + kind.ModuleName(),
    };

    /// <summary>The projection's nn.Linear shape (out_features, in_features) in a model of <paramref name="c"/>.</summary>
    public static (int Out, int In) Shape(this LinearKind kind, ModelConfig c) => kind switch
    {
        LinearKind.Q => (c.NumHeads * c.HeadDim, c.HiddenSize),
        LinearKind.K or LinearKind.V => (c.NumKvHeads * c.HeadDim, c.HiddenSize),
        LinearKind.O => (c.HiddenSize, c.NumHeads * c.HeadDim),
        LinearKind.Gate or LinearKind.Up => (c.IntermediateSize, c.HiddenSize),
        LinearKind.Down => (c.HiddenSize, c.IntermediateSize),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public static bool TryParse(string moduleName, out LinearKind kind)
    {
        foreach (var k in All)
            if (k.ModuleName() == moduleName) { kind = k; return true; }
        kind = default;
        return false;
    }
}
