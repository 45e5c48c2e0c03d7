namespace LoraServe.Models.Safetensors;

/// <summary>
/// Every dtype the safetensors format defines, with its width in bits (huggingface/safetensors
/// Dtype, incl. the sub-byte F4/F6 types of 0.6). A header may name any of them; only
/// F32/F16/BF16 can become weights. An unlisted name means a corrupt or future file.
/// </summary>
internal static class SafetensorsDTypes
{
    private static readonly Dictionary<string, int> Bits = new(StringComparer.Ordinal)
    {
        ["BOOL"] = 8,
        ["F4"] = 4,
        ["F6_E2M3"] = 6,
        ["F6_E3M2"] = 6,
        ["U8"] = 8,
        ["I8"] = 8,
        ["F8_E5M2"] = 8,
        ["F8_E4M3"] = 8,
        ["F8_E8M0"] = 8,
        ["I16"] = 16,
        ["U16"] = 16,
        ["F16"] = 16,
        ["BF16"] = 16,
        ["I32"] = 32,
        ["U32"] = 32,
        ["F32"] = 32,
        ["F64"] = 64,
        ["C64"] = 64,
        ["I64"] = 64,
        ["U64"] = 64,
    };

    public static bool TryGetBits(string name, out int bits) => Bits.TryGetValue(name, out bits);

    public static string KnownNames => string.Join(", ", Bits.Keys);
}
