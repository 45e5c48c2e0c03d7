using System.Text.Json;
using System.Text.Unicode;
using LoraServe.Core.Tensors;
using LoraServe.Models.Config;

namespace LoraServe.Models.Safetensors;

/// <summary>
/// All tensors of a Hugging Face model directory by name, whether stored in one
/// model.safetensors or sharded under model.safetensors.index.json ("weight_map": tensor → shard
/// file), the two layouts transformers' save_pretrained writes. Every shard stays memory-mapped
/// until the store (or whoever took over <see cref="Files"/>) disposes it.
/// </summary>
public sealed class TensorStore : IDisposable
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly Dictionary<string, SafetensorsFile> _fileOf;
    private readonly string _describeSource;

    private TensorStore(string directory, List<SafetensorsFile> files, Dictionary<string, SafetensorsFile> fileOf, string describeSource)
    {
        Directory = directory;
        Files = files;
        _fileOf = fileOf;
        _describeSource = describeSource;
    }

    /// <summary>Full path of the model directory.</summary>
    public string Directory { get; }

    /// <summary>The opened files; hand these to a weights object as its owners.</summary>
    public IReadOnlyList<SafetensorsFile> Files { get; }

    public IEnumerable<string> TensorNames => _fileOf.Keys;

    public static TensorStore Open(string modelDir)
    {
        string dir = Path.GetFullPath(modelDir);
        if (!System.IO.Directory.Exists(dir)) throw new ModelFormatException(dir, "model directory does not exist");

        // transformers looks for the single file first, then the index; so do we.
        string single = Path.Combine(dir, SingleFileName);
        if (File.Exists(single))
        {
            var file = SafetensorsFile.Open(single);
            var fileOf = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
            foreach (var name in file.Tensors.Keys) fileOf[name] = file;
            return new TensorStore(dir, [file], fileOf, single);
        }

        string index = Path.Combine(dir, IndexFileName);
        if (File.Exists(index)) return OpenSharded(dir, index);

        if (File.Exists(Path.Combine(dir, "pytorch_model.bin")) || File.Exists(Path.Combine(dir, "pytorch_model.bin.index.json")))
            throw new ModelFormatException(dir,
                "only pytorch_model.bin (pickle) weights found; pickle weights are not supported because loading them can run arbitrary code — convert the model to safetensors");
        throw new ModelFormatException(dir, $"no {SingleFileName} or {IndexFileName} found");
    }

    private static TensorStore OpenSharded(string dir, string indexPath)
    {
        var weightMap = ReadWeightMap(indexPath);
        var shards = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        var files = new List<SafetensorsFile>();
        var fileOf = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        try
        {
            foreach (var (tensor, shardName) in weightMap)
            {
                if (!shards.TryGetValue(shardName, out var shard))
                {
                    string shardPath = Path.Combine(dir, shardName);
                    if (!File.Exists(shardPath))
                        throw new ModelFormatException(indexPath, $"shard '{shardName}' of tensor '{tensor}' not found at {shardPath}");
                    shard = SafetensorsFile.Open(shardPath);
                    shards[shardName] = shard;
                    files.Add(shard);
                }
                if (!shard.Contains(tensor))
                    throw new ModelFormatException(shard.Path, $"tensor '{tensor}' is listed for this shard in {IndexFileName} but is not in the file");
                fileOf[tensor] = shard;
            }
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
        return new TensorStore(dir, files, fileOf, indexPath);
    }

    private static List<(string Tensor, string Shard)> ReadWeightMap(string indexPath)
    {
        byte[] bytes = File.ReadAllBytes(indexPath);
        if (!Utf8.IsValid(bytes)) throw new ModelFormatException(indexPath, "file is not valid UTF-8");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(bytes);
        }
        catch (JsonException e)
        {
            throw new ModelFormatException(indexPath, $"invalid JSON ({e.Message})", e);
        }
        try
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object
                || !doc.RootElement.TryGetProperty("weight_map", out var map)
                || map.ValueKind != JsonValueKind.Object)
                throw new ModelFormatException(indexPath, "field 'weight_map' is missing or not an object");

            var entries = new List<(string, string)>();
            foreach (var entry in map.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.String)
                    throw new ModelFormatException(indexPath, $"field 'weight_map' entry for tensor '{entry.Name}' must be a file name string");
                string shard = entry.Value.GetString()!;
                // A shard is a sibling file; a path could point the loader anywhere on disk.
                if (shard.Length == 0 || Path.GetFileName(shard) != shard || shard is "." or "..")
                    throw new ModelFormatException(indexPath, $"field 'weight_map' maps tensor '{entry.Name}' to '{shard}', which is not a plain file name in the model directory");
                entries.Add((entry.Name, shard));
            }
            return entries;
        }
        catch (InvalidOperationException e) when (e is not ObjectDisposedException)
        {
            // An unpaired surrogate escape ("\uD800") parses as JSON but cannot be read as a string.
            throw new ModelFormatException(indexPath, $"holds an invalid string ({e.Message})", e);
        }
        finally
        {
            doc.Dispose();
        }
    }

    public bool Contains(string name) => _fileOf.ContainsKey(name);

    /// <summary>The file that holds tensor <paramref name="name"/>.</summary>
    public SafetensorsFile FileOf(string name) =>
        _fileOf.TryGetValue(name, out var file) ? file : throw new ModelFormatException(_describeSource, $"tensor '{name}' not found");

    public SafetensorsTensorInfo GetInfo(string name) => FileOf(name).GetInfo(name);

    public WeightMatrix GetMatrix(string name) => FileOf(name).GetMatrix(name);

    public float[] ReadVector(string name) => FileOf(name).ReadVector(name);

    public float[] ReadFloats(string name) => FileOf(name).ReadFloats(name);

    public void Dispose()
    {
        foreach (var file in Files) file.Dispose();
    }
}
