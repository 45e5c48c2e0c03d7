using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using LoraServe.Core.Tensors;
using LoraServe.Models.Config;

namespace LoraServe.Models.Safetensors;

/// <summary>
/// One memory-mapped .safetensors file. Layout (https://huggingface.co/docs/safetensors):
/// 8 bytes little-endian u64 N, N bytes of JSON header, then the byte buffer the header's
/// data_offsets index into.
/// <para>
/// The mapping is copy-on-write (MAP_PRIVATE): weights are read straight from the page cache
/// without a copy, and the LoRA layer may merge ΔW into a mapped matrix in place — the touched
/// pages become private to this process and the file on disk never changes, which is also what
/// lets an unmerge restore the pristine bytes.
/// </para>
/// Views handed out (<see cref="WeightMatrix"/>, pointers) are valid until <see cref="Dispose"/>.
/// </summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    private readonly Dictionary<string, SafetensorsTensorInfo> _tensors;
    private MemoryMappedFile? _map;
    private MemoryMappedViewAccessor? _view;
    private byte* _data;

    private SafetensorsFile(string path, long fileLength, long dataStart, SafetensorsHeader header, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* fileStart)
    {
        Path = path;
        FileLength = fileLength;
        DataStart = dataStart;
        _tensors = header.Tensors;
        Metadata = header.Metadata;
        _map = map;
        _view = view;
        _data = fileStart + dataStart;
    }

    /// <summary>Full path of the file.</summary>
    public string Path { get; }

    public long FileLength { get; }

    /// <summary>File offset of the byte buffer: 8 + header length.</summary>
    public long DataStart { get; }

    public IReadOnlyDictionary<string, SafetensorsTensorInfo> Tensors => _tensors;

    /// <summary>The header's "__metadata__" (e.g. {"format": "pt"}); empty when absent.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    public static SafetensorsFile Open(string path)
    {
        path = System.IO.Path.GetFullPath(path);
        if (!File.Exists(path)) throw new ModelFormatException(path, "file not found");

        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.RandomAccess);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelFormatException(path, $"cannot open ({e.Message})", e);
        }

        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        bool pointerAcquired = false;
        try
        {
            long length = stream.Length;
            if (length < 8)
                throw new ModelFormatException(path, $"file is {length} bytes, shorter than the 8-byte safetensors header length");

            Span<byte> prefix = stackalloc byte[8];
            RandomAccess.Read(stream.SafeFileHandle, prefix, 0);
            ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
            if (headerLength > SafetensorsHeader.MaxHeaderBytes)
                throw new ModelFormatException(path, $"header length {headerLength} exceeds the format's limit of {SafetensorsHeader.MaxHeaderBytes} bytes (not a safetensors file?)");
            if ((long)headerLength > length - 8)
                throw new ModelFormatException(path, $"header length {headerLength} runs past the end of the {length}-byte file (truncated?)");

            var json = new byte[headerLength];
            int read = RandomAccess.Read(stream.SafeFileHandle, json, 8);
            if (read != json.Length) throw new ModelFormatException(path, $"read {read} of {json.Length} header bytes");

            long dataStart = 8 + (long)headerLength;
            var header = SafetensorsHeader.Parse(json, length - dataStart, path);

            map = MemoryMappedFile.CreateFromFile(stream, mapName: null, capacity: 0, MemoryMappedFileAccess.CopyOnWrite, HandleInheritability.None, leaveOpen: false);
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.CopyOnWrite);
            byte* fileStart = null;
            // The acquired reference keeps the view's SafeHandle from unmapping under live pointers,
            // even if this object were finalized; Dispose releases it.
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref fileStart);
            pointerAcquired = true;
            fileStart += view.PointerOffset;
            return new SafetensorsFile(path, length, dataStart, header, map, view, fileStart);
        }
        catch
        {
            if (pointerAcquired) view!.SafeMemoryMappedViewHandle.ReleasePointer();
            view?.Dispose();
            if (map is not null) map.Dispose();
            else stream.Dispose();
            throw;
        }
    }

    public bool Contains(string name) => _tensors.ContainsKey(name);

    public SafetensorsTensorInfo GetInfo(string name) =>
        _tensors.TryGetValue(name, out var info) ? info : throw new ModelFormatException(Path, $"tensor '{name}' not found");

    /// <summary>Address of the tensor's first byte inside the (copy-on-write) mapping.</summary>
    public nint GetDataPointer(string name)
    {
        var info = GetInfo(name);
        return (nint)(Data + info.DataBegin);
    }

    /// <summary>The tensor's raw stored bytes (tensors under 2 GiB).</summary>
    public ReadOnlySpan<byte> GetBytes(string name)
    {
        var info = GetInfo(name);
        if (info.ByteCount > int.MaxValue) throw new ModelFormatException(Path, $"tensor '{name}' has {info.ByteCount} bytes, too many for a span");
        return new ReadOnlySpan<byte>(Data + info.DataBegin, (int)info.ByteCount);
    }

    /// <summary>A 2-D F32/F16/BF16 tensor as a view (rows, cols) into the mapping; no copy.</summary>
    public WeightMatrix GetMatrix(string name)
    {
        var info = GetInfo(name);
        DType dtype = RequireFloat(info);
        if (info.Shape.Length != 2)
            throw new ModelFormatException(Path, $"tensor '{name}' has shape {info.ShapeText}, expected a 2-D matrix");
        if (info.Shape[0] is <= 0 or > int.MaxValue || info.Shape[1] is <= 0 or > int.MaxValue)
            throw new ModelFormatException(Path, $"tensor '{name}' has shape {info.ShapeText}, which is not a usable matrix");
        return new WeightMatrix((nint)(Data + info.DataBegin), (int)info.Shape[0], (int)info.Shape[1], dtype, name);
    }

    /// <summary>A 1-D F32/F16/BF16 tensor (norm weight, bias) widened to a new float[].</summary>
    public float[] ReadVector(string name)
    {
        var info = GetInfo(name);
        if (info.Shape.Length != 1)
            throw new ModelFormatException(Path, $"tensor '{name}' has shape {info.ShapeText}, expected a 1-D vector");
        return ReadFloats(name);
    }

    /// <summary>Any F32/F16/BF16 tensor, flattened row-major and widened to a new float[].</summary>
    public float[] ReadFloats(string name)
    {
        var info = GetInfo(name);
        DType dtype = RequireFloat(info);
        long count = info.ElementCount;
        if (info.ByteCount > int.MaxValue || count > Array.MaxLength)
            throw new ModelFormatException(Path, $"tensor '{name}' has {count} elements, too many to widen into one float[]");
        var result = new float[count];
        ElementConversion.Widen(new ReadOnlySpan<byte>(Data + info.DataBegin, checked((int)info.ByteCount)), dtype, result);
        return result;
    }

    private DType RequireFloat(SafetensorsTensorInfo info) =>
        info.DType ?? throw new ModelFormatException(Path, $"tensor '{info.Name}' has dtype {info.DTypeName}; weights must be F32, F16 or BF16");

    private byte* Data => _data != null ? _data : throw new ObjectDisposedException(nameof(SafetensorsFile), $"{Path} was closed");

    /// <summary>Unmaps the file. Idempotent; views handed out before are invalid afterwards.</summary>
    public void Dispose()
    {
        if (_view is null) return;
        _data = null;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map?.Dispose();
        _view = null;
        _map = null;
    }
}
