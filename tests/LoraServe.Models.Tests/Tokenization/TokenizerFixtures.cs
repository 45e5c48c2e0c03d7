using System.Collections.Concurrent;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using LoraServe.Models.Tokenization;

namespace LoraServe.Models.Tests.Tokenization;

/// <summary>
/// The real tokenizers under tests/fixtures/tokenizers (see the README there for their
/// sources) and their goldens from HF tokenizers.js. tokenizer.json is stored gzipped; it is
/// unpacked into memory and parsed exactly as <see cref="HfTokenizer.Load"/> would parse it.
/// </summary>
internal static class TokenizerFixtures
{
    public static readonly string[] Names = ["gpt2", "llama2", "llama3", "mistral-metaspace", "qwen2_5", "writer-512", "writer-flags"];

    private static readonly ConcurrentDictionary<string, HfTokenizer> s_cache = new();

    public static string Root { get; } = FindRoot();

    public static string Dir(string name) => Path.Combine(Root, name);

    private static string FindRoot()
    {
        // Copied next to the test assembly by the csproj; fall back to the source tree.
        string copied = Path.Combine(AppContext.BaseDirectory, "fixtures", "tokenizers");
        if (Directory.Exists(copied)) return copied;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "tests", "fixtures", "tokenizers");
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException($"tests/fixtures/tokenizers not found above {AppContext.BaseDirectory}");
    }

    public static string TokenizerJson(string name)
    {
        string dir = Dir(name);
        string plain = Path.Combine(dir, "tokenizer.json");
        if (File.Exists(plain)) return File.ReadAllText(plain, Encoding.UTF8);
        using var gz = new GZipStream(File.OpenRead(Path.Combine(dir, "tokenizer.json.gz")), CompressionMode.Decompress);
        using var reader = new StreamReader(gz, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    public static HfTokenizer Load(string name) => s_cache.GetOrAdd(name, n =>
    {
        string dir = Dir(n);
        string? Read(string file) => File.Exists(Path.Combine(dir, file)) ? File.ReadAllText(Path.Combine(dir, file), Encoding.UTF8) : null;
        return HfTokenizer.Parse(TokenizerJson(n), Read("tokenizer_config.json"), Read("generation_config.json"), dir);
    });

    public sealed record GoldenCase(string Text, int[] Ids, int[] IdsNoSpecial, string DecodeKeepSpecial, string DecodeSkipSpecial);

    public static IReadOnlyList<GoldenCase> Goldens(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir(name), "goldens.json"), Encoding.UTF8));
        var list = new List<GoldenCase>();
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            list.Add(new GoldenCase(
                c.GetProperty("text").GetString()!,
                c.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray(),
                c.GetProperty("ids_no_special").EnumerateArray().Select(x => x.GetInt32()).ToArray(),
                c.GetProperty("decode_keep_special").GetString()!,
                c.GetProperty("decode_skip_special").GetString()!));
        }
        return list;
    }

    public static string Show(string s) => JsonSerializer.Serialize(s);
}
