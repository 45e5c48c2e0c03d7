namespace LoraServe.Bench;

/// <summary>One benchmark the dispatcher in Program.cs can run by name.</summary>
public interface IBenchmark
{
    string Name { get; }

    string Description { get; }

    void Run(BenchOptions options);
}

/// <summary>Options shared by every benchmark: repetitions (the median is reported), thread count, clock (wall | cpu).</summary>
public sealed record BenchOptions(int Reps, int? Threads, IReadOnlyList<string> Rest)
{
    public static BenchOptions Parse(ReadOnlySpan<string> args)
    {
        int reps = 7;
        int? threads = null;
        var rest = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--reps" when i + 1 < args.Length: reps = int.Parse(args[++i]); break;
                case "--threads" when i + 1 < args.Length: threads = int.Parse(args[++i]); break;
                case "--clock" when i + 1 < args.Length: Timing.UseCpuClock = args[++i] == "cpu"; break;
                default: rest.Add(args[i]); break;
            }
        }
        return new BenchOptions(reps, threads, rest);
    }
}
