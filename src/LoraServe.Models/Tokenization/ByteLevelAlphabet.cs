namespace LoraServe.Models.Tokenization;

/// <summary>
/// GPT-2's reversible byte ↔ printable-character table (openai/gpt-2 encoder.py
/// <c>bytes_to_unicode</c>, reused verbatim by HF tokenizers' ByteLevel pre-tokenizer and
/// decoder): printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100.. in
/// byte order, so every byte sequence becomes a string without whitespace or control chars
/// (space → 'Ġ', '\n' → 'Ċ').
/// </summary>
public static class ByteLevelAlphabet
{
    private static readonly char[] s_byteToChar = BuildByteToChar();
    private static readonly Dictionary<char, byte> s_charToByte = BuildCharToByte();

    /// <summary>The character that stands for byte <paramref name="b"/>.</summary>
    public static char ByteToChar(byte b) => s_byteToChar[b];

    /// <summary>The byte a character stands for, or false when it is not in the alphabet.</summary>
    public static bool TryCharToByte(char c, out byte b) => s_charToByte.TryGetValue(c, out b);

    /// <summary>Maps the UTF-8 bytes of <paramref name="text"/> to alphabet characters.</summary>
    public static string Encode(string text)
    {
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes(text);
        return string.Create(bytes.Length, bytes, static (span, src) =>
        {
            for (int i = 0; i < src.Length; i++) span[i] = s_byteToChar[src[i]];
        });
    }

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        var assigned = new bool[256];
        for (int b = '!'; b <= '~'; b++) { map[b] = (char)b; assigned[b] = true; }
        for (int b = 0xA1; b <= 0xAC; b++) { map[b] = (char)b; assigned[b] = true; }
        for (int b = 0xAE; b <= 0xFF; b++) { map[b] = (char)b; assigned[b] = true; }
        int n = 0;
        for (int b = 0; b < 256; b++)
        {
            if (!assigned[b]) map[b] = (char)(256 + n++);
        }
        return map;
    }

    private static Dictionary<char, byte> BuildCharToByte()
    {
        var d = new Dictionary<char, byte>(256);
        for (int b = 0; b < 256; b++) d[s_byteToChar[b]] = (byte)b;
        return d;
    }
}
