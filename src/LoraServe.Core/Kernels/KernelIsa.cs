using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LoraServe.Core.Kernels;

/// <summary>The widest SIMD path a kernel may take. Ordered: a larger value allows more.</summary>
public enum IsaLevel
{
    Scalar = 0,
    Vector256 = 1,
    Vector512 = 2,
}

/// <summary>
/// Chooses between the Vector512, Vector256 and scalar code paths of the kernels. Every kernel
/// reads <see cref="Current"/> once at entry on the calling thread and hands the choice to its
/// workers, so one call never mixes paths. <see cref="Max"/> lets tests force each path on an
/// AVX-512 machine (and lets a user rule out AVX-512 where it down-clocks the core).
/// </summary>
public static class KernelIsa
{
    private static volatile IsaLevel _max = IsaLevel.Vector512;

    /// <summary>What the hardware (and the JIT) accelerates. Vector512 needs AVX-512F+BW (for the 16-bit widenings).</summary>
    public static IsaLevel Hardware { get; } =
        Vector512.IsHardwareAccelerated && Avx512F.IsSupported && Avx512BW.IsSupported ? IsaLevel.Vector512
        : Vector256.IsHardwareAccelerated && Avx2.IsSupported && Fma.IsSupported ? IsaLevel.Vector256
        : IsaLevel.Scalar;

    /// <summary>Upper bound on the path kernels take; the effective path is min(Max, Hardware).</summary>
    public static IsaLevel Max
    {
        get => _max;
        set => _max = value;
    }

    /// <summary>The path kernels take now.</summary>
    public static IsaLevel Current => _max < Hardware ? _max : Hardware;
}
