namespace LoraServe.Models.Weights;

/// <summary>
/// Where a model's weight matrices live while it runs (`--weights`). The checkpoint is always read
/// through memory-mapped safetensors files and validated there; this decides whether the matrices
/// stay views into those mappings or are copied once into memory of our own. Dtypes never change.
/// </summary>
public enum WeightPlacement
{
    /// <summary>
    /// <see cref="Resident"/> when the matrices take at most half of the memory the OS reports
    /// available (Linux MemAvailable), else <see cref="Mapped"/>; <see cref="Mapped"/> where that
    /// figure cannot be read.
    /// </summary>
    Auto,

    /// <summary>
    /// Views into the copy-on-write file mappings: no copy, the pages are the page cache's (shared
    /// with other processes, evictable under memory pressure), loading is instant. Reads go through
    /// 4 KiB pages.
    /// </summary>
    Mapped,

    /// <summary>
    /// One arena of anonymous memory backed by 2 MiB transparent huge pages, the matrices packed in
    /// the order a forward pass reads them; the file mappings are released after the copy. Batch-1
    /// decode streams every matrix once per step, and from 4 KiB file pages it measured 10–25 %
    /// slower than from the arena (docs/benchmarks.md): each 4 KiB page is a TLB miss and a point
    /// where the hardware prefetchers stop. Costs one copy at load (~0.1 s per 300 MB) and memory
    /// that is ours rather than reclaimable page cache.
    /// </summary>
    Resident,
}
