namespace LoraServe.Models.Config;

/// <summary>
/// A model directory or file is missing, malformed or unsupported (config.json, safetensors,
/// index). The one exception type for bad model files, so callers (CLI, server) can turn it into
/// a user-facing message. The message always starts with the full path of the offending file and
/// names the field or tensor that was wrong.
/// </summary>
public sealed class ModelFormatException : Exception
{
    public ModelFormatException(string path, string message, Exception? inner = null)
        : base($"{path}: {message}", inner)
    {
        FilePath = path;
    }

    /// <summary>Full path of the file (or directory) that was wrong.</summary>
    public string FilePath { get; }
}
