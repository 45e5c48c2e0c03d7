// Kernel tests flip process-wide switches (KernelIsa.Max, KernelThreadPool.ThreadCount) and the
// kernels are themselves multi-threaded on a 2-core machine: run test classes one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
