using LoraServe.Lora.Adapters;
using LoraServe.Server.Protocol;

namespace LoraServe.Server.Security;

/// <summary>
/// Where POST /v1/load_lora_adapter may read from: only below the --adapter-root directories.
/// A lora_path is made absolute, then checked twice — as written (so "../" cannot climb out) and
/// after every symbolic link is resolved (so a link inside a root cannot point out) — and the
/// adapter's files are checked the same way, since a link to a file escapes as well as one to a
/// folder. The adapter is then registered under its resolved path, so the loader opens what was
/// checked. Paths outside every root are refused before the file system is asked whether they
/// exist, so the answer tells nothing about what lies outside.
/// </summary>
public sealed class AdapterPathPolicy
{
    private readonly string[] _roots;

    public AdapterPathPolicy(IEnumerable<string> roots)
    {
        _roots = [.. roots.Select(r =>
        {
            string real = RealPath.Resolve(r);
            if (!Directory.Exists(real)) throw new ArgumentException($"--adapter-root '{r}' is not a directory");
            return real;
        })];
    }

    public IReadOnlyList<string> Roots => _roots;

    /// <summary>The checked, canonical adapter directory for a lora_path; throws <see cref="ApiException"/> (400, or 404 if it does not exist).</summary>
    public string Resolve(string loraPath)
    {
        if (_roots.Length == 0)
            throw ApiException.BadRequest("Loading adapters at run time is disabled: start the server with --adapter-root DIR to allow adapters below DIR.", "lora_path");
        if (loraPath.Contains('\0')) throw ApiException.BadRequest("'lora_path' contains a NUL character.", "lora_path");
        string full = Path.GetFullPath(loraPath);
        string real;
        try
        {
            real = RealPath.Resolve(full);
        }
        catch (IOException)
        {
            throw Outside(loraPath);
        }
        if (!IsAllowed(full) || !IsAllowed(real)) throw Outside(loraPath);
        if (!Directory.Exists(real)) throw ApiException.NotFound($"No adapter found at '{loraPath}'.", "lora_path");
        foreach (var file in new[] { PeftAdapterLoader.ConfigFile, PeftAdapterLoader.WeightsFile })
        {
            string path = Path.Combine(real, file);
            if (!File.Exists(path) && new FileInfo(path).LinkTarget is null) continue;
            string realFile;
            try
            {
                realFile = RealPath.Resolve(path);
            }
            catch (IOException)
            {
                throw Outside(loraPath);
            }
            if (!IsAllowed(realFile)) throw Outside(loraPath);
        }
        return real;
    }

    private bool IsAllowed(string path)
    {
        foreach (var root in _roots)
            if (RealPath.IsUnder(path, root)) return true;
        return false;
    }

    private static ApiException Outside(string loraPath) =>
        ApiException.BadRequest($"'lora_path' {loraPath} is not inside an allowed adapter root (--adapter-root).", "lora_path");
}
