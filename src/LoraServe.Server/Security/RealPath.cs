namespace LoraServe.Server.Security;

/// <summary>
/// The canonical path of a file system entry: absolute, with "." and ".." removed and every
/// symbolic link on the way — not only the last component — replaced by its target, as POSIX
/// realpath(3) does. Components that do not exist are kept as written (after the links before
/// them are resolved), so a path can be checked before anything is created there.
/// </summary>
public static class RealPath
{
    /// <summary>Linux's limit on links followed while resolving one path (ELOOP).</summary>
    private const int MaxLinks = 40;

    public static string Resolve(string path)
    {
        int links = 0;
        return Resolve(Path.GetFullPath(path), ref links);
    }

    private static string Resolve(string fullPath, ref int links)
    {
        string root = Path.GetPathRoot(fullPath)!;
        var parts = fullPath[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
        string current = root;
        for (int i = 0; i < parts.Length; i++)
        {
            string part = parts[i];
            if (part == ".") continue;
            if (part == "..")
            {
                current = Path.GetDirectoryName(current) ?? root;
                continue;
            }
            string next = Path.Combine(current, part);
            // readlink(2): null for a regular entry or one that does not exist.
            string? target = new FileInfo(next).LinkTarget;
            if (target is null)
            {
                current = next;
                continue;
            }
            if (++links > MaxLinks) throw new IOException($"too many levels of symbolic links resolving '{next}'");
            // A relative target is relative to the link's directory; the rest of the path follows the resolved target.
            current = Resolve(Path.GetFullPath(target, current), ref links);
        }
        return current;
    }

    /// <summary>True if <paramref name="path"/> is <paramref name="root"/> or lies below it (both canonical).</summary>
    public static bool IsUnder(string path, string root)
    {
        string r = root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar;
        return path == root || path.StartsWith(r, StringComparison.Ordinal);
    }
}
