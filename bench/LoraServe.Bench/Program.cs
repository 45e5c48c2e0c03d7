using LoraServe.Bench;

// The benchmark dispatcher: `dotnet run -c Release --project bench/LoraServe.Bench -- <name> [options]`.
// Add a benchmark by writing an IBenchmark and adding one line to this table.
var benchmarks = new IBenchmark[]
{
    new PeakFlopsBenchmark(),
    new MemoryBandwidthBenchmark(),
    new GemmBenchmark(),
    new GemmTuneBenchmark(),
    new DecodeBenchmark(),
    new LoraBenchmark(),
    new TrainingBenchmark(),
};

if (args.Length == 0 || args[0] is "-h" or "--help" or "list")
{
    Console.WriteLine("usage: LoraServe.Bench <benchmark> [--reps N] [--threads N]");
    foreach (var b in benchmarks) Console.WriteLine($"  {b.Name,-10} {b.Description}");
    return args.Length == 0 ? 1 : 0;
}

var options = BenchOptions.Parse(args.AsSpan(1));
if (options.Threads is int threads) LoraServe.Core.Threading.KernelThreadPool.ThreadCount = threads;
foreach (var b in benchmarks)
{
    if (b.Name != args[0]) continue;
    Console.WriteLine($"# {b.Name}: {b.Description}");
    Console.WriteLine($"# {Environment.ProcessorCount} logical CPUs, {LoraServe.Core.Threading.KernelThreadPool.ThreadCount} kernel threads, ISA {LoraServe.Core.Kernels.KernelIsa.Current}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
    b.Run(options);
    return 0;
}
Console.Error.WriteLine($"unknown benchmark '{args[0]}'; try 'list'");
return 1;
