using System.IO.Compression;
using System.Text;

namespace LoraServe.Models.Tokenization;

/// <summary>
/// Unicode normalization forms C, D, KC and KD (UAX #15) from our own tables. LoraServe runs
/// with InvariantGlobalization, where <see cref="string.Normalize()"/> leaves "e\u0301"
/// uncomposed, so Qwen2's NFC normalizer would silently tokenize decomposed accents
/// differently from tokenizers (which uses the unicode-normalization crate).
/// </summary>
public static class UnicodeNormalization
{
    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    private static readonly Lazy<Tables> s_tables = new(Tables.Load);

    /// <summary>Normalizes <paramref name="text"/> to <paramref name="form"/>.</summary>
    public static string Normalize(string text, NormalizationForm form)
    {
        bool compat = form is NormalizationForm.FormKC or NormalizationForm.FormKD;
        bool compose = form is NormalizationForm.FormC or NormalizationForm.FormKC;
        // Below U+0300 nothing decomposes canonically except Latin-1 letters with accents,
        // and nothing combines; ASCII is stable under every form.
        if (IsStable(text, compat, compose)) return text;

        var t = s_tables.Value;
        var cps = new List<int>(text.Length + 8);
        for (int i = 0; i < text.Length; i++)
        {
            int cp = text[i];
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                cp = char.ConvertToUtf32(text[i], text[i + 1]);
                i++;
            }
            Decompose(cp, compat, t, cps);
        }
        ReorderCanonically(cps, t);
        if (compose) Compose(cps, t);
        var sb = new StringBuilder(cps.Count);
        foreach (int cp in cps)
        {
            if (cp < 0x10000) sb.Append((char)cp);
            else sb.Append(char.ConvertFromUtf32(cp));
        }
        return sb.ToString();
    }

    private static bool IsStable(string text, bool compat, bool compose)
    {
        int limit = compat ? 0x80 : compose ? 0x300 : 0xC0;
        foreach (char c in text)
        {
            if (c >= limit) return false;
        }
        return true;
    }

    private static void Decompose(int cp, bool compat, Tables t, List<int> output)
    {
        if (cp >= SBase && cp < SBase + SCount)
        {
            int s = cp - SBase;
            output.Add(LBase + s / NCount);
            output.Add(VBase + s % NCount / TCount);
            if (s % TCount != 0) output.Add(TBase + s % TCount);
            return;
        }
        if (t.Decompositions.TryGetValue(cp, out var d) && (compat || !d.Compat))
        {
            foreach (int x in d.Mapping) Decompose(x, compat, t, output);
            return;
        }
        output.Add(cp);
    }

    /// <summary>Stable sort of each run of non-starters by combining class (UAX #15 §3.11 canonical ordering).</summary>
    private static void ReorderCanonically(List<int> cps, Tables t)
    {
        for (int i = 1; i < cps.Count; i++)
        {
            int ccc = t.Ccc(cps[i]);
            if (ccc == 0) continue;
            int j = i;
            while (j > 0)
            {
                int prev = t.Ccc(cps[j - 1]);
                if (prev <= ccc) break;
                (cps[j - 1], cps[j]) = (cps[j], cps[j - 1]);
                j--;
            }
        }
    }

    /// <summary>Canonical composition (UAX #15 §3.11, the reference algorithm of its sample code).</summary>
    private static void Compose(List<int> cps, Tables t)
    {
        if (cps.Count == 0) return;
        int starterPos = 0;
        int starter = cps[0];
        int lastClass = t.Ccc(starter);
        if (lastClass != 0) lastClass = 256; // a leading non-starter blocks everything after it
        int write = 1;
        for (int read = 1; read < cps.Count; read++)
        {
            int ch = cps[read];
            int chClass = t.Ccc(ch);
            int composite = ComposePair(starter, ch, t);
            if (composite >= 0 && (lastClass < chClass || lastClass == 0))
            {
                cps[starterPos] = composite;
                starter = composite;
                continue;
            }
            if (chClass == 0)
            {
                starterPos = write;
                starter = ch;
            }
            lastClass = chClass;
            cps[write++] = ch;
        }
        cps.RemoveRange(write, cps.Count - write);
    }

    private static int ComposePair(int a, int b, Tables t)
    {
        if (a >= LBase && a < LBase + LCount && b >= VBase && b < VBase + VCount)
            return SBase + ((a - LBase) * VCount + (b - VBase)) * TCount;
        if (a >= SBase && a < SBase + SCount && (a - SBase) % TCount == 0 && b > TBase && b < TBase + TCount)
            return a + (b - TBase);
        return t.Compositions.TryGetValue(((long)a << 21) | (uint)b, out int c) ? c : -1;
    }

    private sealed class Tables
    {
        public readonly Dictionary<int, byte> CombiningClass = new();
        public readonly Dictionary<int, (bool Compat, int[] Mapping)> Decompositions = new();
        public readonly Dictionary<long, int> Compositions = new();

        public int Ccc(int cp) => CombiningClass.TryGetValue(cp, out byte c) ? c : 0;

        public static Tables Load()
        {
            var t = new Tables();
            byte[] gz = Convert.FromBase64String(UnicodeNormalizationData.Payload);
            using var reader = new StreamReader(new GZipStream(new MemoryStream(gz), CompressionMode.Decompress), Encoding.UTF8);
            var excluded = new HashSet<int>();
            string? line;
            while ((line = reader.ReadLine()) is not null)
            {
                var f = line.Split(' ');
                switch (f[0])
                {
                    case "c":
                    {
                        int a = Hex(f[1]), b = Hex(f[2]);
                        byte ccc = byte.Parse(f[3], System.Globalization.CultureInfo.InvariantCulture);
                        for (int cp = a; cp <= b; cp++) t.CombiningClass[cp] = ccc;
                        break;
                    }
                    case "d":
                    {
                        var mapping = new int[f.Length - 3];
                        for (int k = 0; k < mapping.Length; k++) mapping[k] = Hex(f[k + 3]);
                        t.Decompositions[Hex(f[1])] = (f[2] == "K", mapping);
                        break;
                    }
                    case "x":
                    {
                        int a = Hex(f[1]), b = Hex(f[2]);
                        for (int cp = a; cp <= b; cp++) excluded.Add(cp);
                        break;
                    }
                }
            }
            // Primary composites: canonical pairs that are not excluded from composition.
            foreach (var (cp, (compat, mapping)) in t.Decompositions)
            {
                if (compat || mapping.Length != 2 || excluded.Contains(cp)) continue;
                t.Compositions[((long)mapping[0] << 21) | (uint)mapping[1]] = cp;
            }
            return t;
        }

        private static int Hex(string s) => int.Parse(s, System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);
    }
}
