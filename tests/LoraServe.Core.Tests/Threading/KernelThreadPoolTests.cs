using LoraServe.Core.Threading;

namespace LoraServe.Core.Tests.Threading;

public sealed unsafe class KernelThreadPoolTests
{
    private struct Counts
    {
        public int* PerIndex;
        public int Nested;
    }

    private static void CountIndex(void* state, int index) => Interlocked.Increment(ref ((Counts*)state)->PerIndex[index]);

    private static void NestedRun(void* state, int index)
    {
        var counts = (Counts*)state;
        // A kernel called from inside a work item runs inline on that thread.
        int inner = 0;
        KernelThreadPool.Run(&CountLocal, &inner, 3);
        if (inner == 3) Interlocked.Increment(ref counts->Nested);
        Interlocked.Increment(ref counts->PerIndex[index]);
    }

    private static void CountLocal(void* state, int index) => (*(int*)state)++;

    [Fact]
    public void Every_index_runs_exactly_once()
    {
        foreach (int count in new[] { 1, 2, 3, 17, 1000, 100_000 })
            for (int repeat = 0; repeat < 20; repeat++)
            {
                var perIndex = new int[count];
                fixed (int* p = perIndex)
                {
                    var counts = new Counts { PerIndex = p };
                    KernelThreadPool.Run(&CountIndex, &counts, count);
                }
                Assert.All(perIndex, c => Assert.Equal(1, c));
            }
    }

    [Fact]
    public void Nested_runs_complete_inline()
    {
        var perIndex = new int[64];
        fixed (int* p = perIndex)
        {
            var counts = new Counts { PerIndex = p };
            KernelThreadPool.Run(&NestedRun, &counts, 64);
            Assert.Equal(64, counts.Nested);
        }
        Assert.All(perIndex, c => Assert.Equal(1, c));
    }

    [Fact]
    public void Concurrent_callers_all_complete()
    {
        // Two threads issuing kernels at once: one gets the pool, the other runs inline.
        var threads = new Thread[3];
        var failures = 0;
        for (int t = 0; t < threads.Length; t++)
        {
            threads[t] = new Thread(() =>
            {
                for (int r = 0; r < 200; r++)
                {
                    var perIndex = new int[257];
                    fixed (int* p = perIndex)
                    {
                        var counts = new Counts { PerIndex = p };
                        KernelThreadPool.Run(&CountIndex, &counts, perIndex.Length);
                    }
                    foreach (int c in perIndex) if (c != 1) Interlocked.Increment(ref failures);
                }
            });
            threads[t].Start();
        }
        foreach (var t in threads) t.Join();
        Assert.Equal(0, failures);
    }

    [Fact]
    public void Thread_count_can_change_and_limit_scopes_restore()
    {
        int original = KernelThreadPool.ThreadCount;
        try
        {
            KernelThreadPool.ThreadCount = 3;
            Assert.Equal(3, KernelThreadPool.ThreadCount);
            using (KernelThreadPool.LimitCurrentThread(1)) Assert.Equal(1, KernelThreadPool.AvailableThreads);
            Assert.Equal(3, KernelThreadPool.AvailableThreads);
            var perIndex = new int[500];
            fixed (int* p = perIndex)
            {
                var counts = new Counts { PerIndex = p };
                KernelThreadPool.Run(&CountIndex, &counts, perIndex.Length);
            }
            Assert.All(perIndex, c => Assert.Equal(1, c));
        }
        finally
        {
            KernelThreadPool.ThreadCount = original;
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => KernelThreadPool.ThreadCount = 0);
    }
}
