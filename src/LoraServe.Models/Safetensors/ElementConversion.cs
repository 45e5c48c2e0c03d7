using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using LoraServe.Core.Tensors;

namespace LoraServe.Models.Safetensors;

/// <summary>
/// float32 to and from the stored bytes of F32/F16/BF16 tensors. safetensors is little-endian and
/// so is every platform .NET runs these kernels on, so bytes are reinterpreted, not swapped.
/// Narrowing rounds to nearest even for both 16-bit types, as torch's .to(dtype) does.
/// </summary>
internal static class ElementConversion
{
    /// <summary>destination: count floats; source: count elements of <paramref name="dtype"/>.</summary>
    public static void Widen(ReadOnlySpan<byte> source, DType dtype, Span<float> destination)
    {
        switch (dtype)
        {
            case DType.F32:
                MemoryMarshal.Cast<byte, float>(source).CopyTo(destination);
                break;
            case DType.F16:
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(source), destination);
                break;
            case DType.BF16:
                var bits = MemoryMarshal.Cast<byte, ushort>(source);
                for (int i = 0; i < bits.Length; i++) destination[i] = BFloat16.ToSingle(bits[i]);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "not a float dtype");
        }
    }

    /// <summary>destination: source.Length elements of <paramref name="dtype"/>.</summary>
    public static void Narrow(ReadOnlySpan<float> source, DType dtype, Span<byte> destination)
    {
        switch (dtype)
        {
            case DType.F32:
                MemoryMarshal.AsBytes(source).CopyTo(destination);
                break;
            case DType.F16:
                // (Half)float rounds to nearest even (IEEE 754 default), like torch.
                var halves = MemoryMarshal.Cast<byte, Half>(destination);
                for (int i = 0; i < source.Length; i++) halves[i] = (Half)source[i];
                break;
            case DType.BF16:
                BFloat16.FromSingle(source, MemoryMarshal.Cast<byte, ushort>(destination));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "not a float dtype");
        }
    }
}
