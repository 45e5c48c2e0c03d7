using LoraServe.Core.Kernels;

namespace LoraServe.Core.Tests.Infrastructure;

/// <summary>Forces kernels onto one SIMD path for the scope's lifetime.</summary>
public readonly struct IsaScope : IDisposable
{
    private readonly IsaLevel _previous;

    public IsaScope(IsaLevel max)
    {
        _previous = KernelIsa.Max;
        KernelIsa.Max = max;
    }

    public void Dispose() => KernelIsa.Max = _previous;

    /// <summary>The paths this machine can run (each forced in turn by the tests).</summary>
    public static IsaLevel[] Levels()
    {
        var levels = new List<IsaLevel>();
        foreach (var isa in new[] { IsaLevel.Scalar, IsaLevel.Vector256, IsaLevel.Vector512 })
            if (isa <= KernelIsa.Hardware) levels.Add(isa);
        return levels.ToArray();
    }

    public static TheoryData<IsaLevel> Available()
    {
        var data = new TheoryData<IsaLevel>();
        foreach (var isa in Levels()) data.Add(isa);
        return data;
    }
}
