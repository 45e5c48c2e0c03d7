using System.Diagnostics;

namespace LoraServe.Models.Llama;

/// <summary>The parts of <see cref="LlamaModel.Forward"/> a <see cref="ForwardProfile"/> times.</summary>
public enum ForwardPhase
{
    /// <summary>q/k/v projections (one shared-input product).</summary>
    QkvProjection,

    /// <summary>RoPE on q and k, and the K/V cache write.</summary>
    RopeAndKvWrite,

    Attention,

    /// <summary>o_proj with its residual add.</summary>
    OutputProjection,

    /// <summary>gate/up projections (one shared-input product).</summary>
    GateUpProjection,

    /// <summary>down_proj with its residual add.</summary>
    DownProjection,

    /// <summary>lm_head over the rows whose logits are wanted.</summary>
    LmHead,

    /// <summary>Everything else: embedding, norms, biases, LoRA deltas, SiLU, the final gather.</summary>
    Other,
}

/// <summary>
/// Wall time per <see cref="ForwardPhase"/>, summed over the layers of every forward pass run while
/// it is set as <see cref="LlamaModel.Profile"/> (the decode benchmark's `--phases`). A phase's time
/// is read on the engine thread between kernel calls, so it includes the kernel's launch and its
/// wait for the slowest thread. When no profile is set the forward pass reads no clock.
/// </summary>
public sealed class ForwardProfile
{
    private readonly long[] _ticks = new long[Enum.GetValues<ForwardPhase>().Length];

    public TimeSpan this[ForwardPhase phase] => Stopwatch.GetElapsedTime(0, _ticks[(int)phase]);

    public TimeSpan Total => Stopwatch.GetElapsedTime(0, _ticks.Sum());

    public void Reset() => Array.Clear(_ticks);

    /// <summary>Charges the time since <paramref name="since"/> to <paramref name="phase"/>; returns now, the next phase's start.</summary>
    internal long Charge(ForwardPhase phase, long since)
    {
        long now = Stopwatch.GetTimestamp();
        _ticks[(int)phase] += now - since;
        return now;
    }
}
