using LoraServe.Models.Config;

namespace LoraServe.Models.Llama;

/// <summary>
/// Activation scratch for one forward step, grown to the largest batch seen and then reused, so
/// steady-state decoding allocates nothing.
/// </summary>
internal sealed class ForwardWorkspace(ModelConfig config)
{
    private int _capacity;

    public float[] Hidden { get; private set; } = [];
    public float[] Normed { get; private set; } = [];
    public float[] Gather { get; private set; } = [];
    public float[] Q { get; private set; } = [];
    public float[] K { get; private set; } = [];
    public float[] V { get; private set; } = [];
    public float[] Attention { get; private set; } = [];
    public float[] Gate { get; private set; } = [];
    public float[] Up { get; private set; } = [];

    public void EnsureTokens(int tokens)
    {
        if (tokens <= _capacity) return;
        int cap = Math.Max(tokens, _capacity * 2);
        int qDim = config.NumHeads * config.HeadDim, kvDim = config.NumKvHeads * config.HeadDim;
        Hidden = new float[cap * config.HiddenSize];
        Normed = new float[cap * config.HiddenSize];
        Gather = new float[cap * config.HiddenSize];
        Q = new float[cap * qDim];
        K = new float[cap * kvDim];
        V = new float[cap * kvDim];
        Attention = new float[cap * qDim];
        Gate = new float[cap * config.IntermediateSize];
        Up = new float[cap * config.IntermediateSize];
        _capacity = cap;
    }
}
