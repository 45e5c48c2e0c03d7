using System.Diagnostics;

namespace LoraServe.Core.Threading;

/// <summary>
/// A persistent pool of kernel worker threads, one per core by default (override with
/// <see cref="ThreadCount"/> or the LORASERVE_THREADS environment variable).
///
/// Why not Parallel.For or the .NET ThreadPool: a decode step runs ~200 kernels of 10–500 µs each;
/// Parallel.For allocates a closure and task objects per call and its workers wake up through the
/// shared ThreadPool queue (tens of µs, more when the pool is busy with I/O). Here:
/// <list type="bullet">
/// <item>a job is a static function pointer plus a pointer to the caller's state struct (no
///   allocation, no closure, no boxing); it is called once per work index;</item>
/// <item>indices are handed out dynamically (one Interlocked.Increment each), which balances
///   load on a shared, noisy machine where one core may be stolen mid-kernel;</item>
/// <item>the calling thread works too, and returns only when every index has completed, so the
///   state may live on its stack;</item>
/// <item>idle workers spin briefly (a decode step issues kernels back to back) and then block on
///   a semaphore so an idle server burns no CPU.</item>
/// </list>
/// One job runs at a time. A call made while the pool is busy (another thread's kernel, or a
/// kernel called from inside a work item) runs inline on the calling thread: correct, just serial.
/// </summary>
public static unsafe class KernelThreadPool
{
    /// <summary>How long an idle worker spins before blocking (iterations of Thread.SpinWait(20) ≈ 50 µs total).</summary>
    private const int SpinIterations = 1000;

    private static readonly object ResizeLock = new();
    private static Pool _pool = new(DefaultThreadCount());

    [ThreadStatic] private static int _threadLimit;
    [ThreadStatic] private static bool _insideWork;

    /// <summary>Threads a kernel may use, the caller included. Setting it replaces the pool.</summary>
    public static int ThreadCount
    {
        get => _pool.Threads;
        set
        {
            if (value <= 0) throw new ArgumentOutOfRangeException(nameof(value), value, "thread count must be positive");
            lock (ResizeLock)
            {
                if (value == _pool.Threads) return;
                var old = _pool;
                _pool = new Pool(value);
                old.Shutdown();
            }
        }
    }

    /// <summary>
    /// Threads the current call may use: <see cref="ThreadCount"/>, lowered by
    /// <see cref="LimitCurrentThread"/> on this thread.
    /// </summary>
    public static int AvailableThreads => _threadLimit > 0 ? Math.Min(_threadLimit, _pool.Threads) : _pool.Threads;

    /// <summary>
    /// Caps the threads kernels called from this thread may use (1 = run inline) until the returned
    /// scope is disposed. Used by tests to compare single- and multi-threaded results, and by callers
    /// that already run kernels in parallel themselves.
    /// </summary>
    public static ThreadLimitScope LimitCurrentThread(int threads)
    {
        if (threads <= 0) throw new ArgumentOutOfRangeException(nameof(threads));
        int previous = _threadLimit;
        _threadLimit = threads;
        return new ThreadLimitScope(previous);
    }

    /// <summary>
    /// Calls <paramref name="work"/>(<paramref name="state"/>, i) for every i in [0, count), spread
    /// over the pool, and returns when all calls are done. The work items must be independent.
    /// Exceptions thrown by work items are not caught: a kernel is validated before it gets here.
    /// </summary>
    public static void Run(delegate*<void*, int, void> work, void* state, int count)
    {
        if (count <= 0) return;
        var pool = _pool;
        int threads = Math.Min(AvailableThreads, count);
        if (threads <= 1 || _insideWork || !Monitor.TryEnter(pool.JobLock))
        {
            for (int i = 0; i < count; i++) work(state, i);
            return;
        }
        try
        {
            pool.RunJob(work, state, count, threads);
        }
        finally
        {
            Monitor.Exit(pool.JobLock);
        }
    }

    private static int DefaultThreadCount()
    {
        string? env = Environment.GetEnvironmentVariable("LORASERVE_THREADS");
        if (!string.IsNullOrWhiteSpace(env))
        {
            if (int.TryParse(env, out int n) && n > 0) return n;
            throw new InvalidOperationException($"LORASERVE_THREADS must be a positive integer, got '{env}'");
        }
        return Environment.ProcessorCount;
    }

    /// <summary>Restores the previous per-thread limit on dispose.</summary>
    public readonly struct ThreadLimitScope : IDisposable
    {
        private readonly int _previous;

        internal ThreadLimitScope(int previous) => _previous = previous;

        public void Dispose() => _threadLimit = _previous;
    }

    /// <summary>The workers of one thread count; replaced as a whole when the count changes.</summary>
    private sealed class Pool
    {
        public readonly object JobLock = new();
        private readonly Worker[] _workers;

        // The current job. Written by the caller before it opens the job in _join (an interlocked
        // write, a full fence); read by workers only after they joined it.
        private delegate*<void*, int, void> _work;
        private void* _state;
        private int _count;
        private int _next;
        private long _generation;

        // (generation << 32) | Closed? | joined-worker count. A worker joins the current job only
        // while it is open; the caller closes it once every index is taken and then waits only for
        // workers that joined. So a worker that the OS has not scheduled yet (2 shared cores!) never
        // delays the caller: it wakes later, finds the job closed or gone, and goes back to waiting.
        private long _join;
        private const long Closed = 1L << 16;
        private const long CountMask = Closed - 1;
        private volatile bool _stopping;

        public Pool(int threads)
        {
            Threads = threads;
            _workers = new Worker[threads - 1];
            for (int i = 0; i < _workers.Length; i++)
            {
                _workers[i] = new Worker(this, i);
                _workers[i].Thread.Start();
            }
        }

        public int Threads { get; }

        public void RunJob(delegate*<void*, int, void> work, void* state, int count, int threads)
        {
            _work = work;
            _state = state;
            _count = count;
            _next = 0;
            long generation = ++_generation;
            Interlocked.Exchange(ref _join, generation << 32);
            // Only the first threads−1 workers get a ticket; the others keep sleeping.
            for (int w = 0; w < threads - 1; w++) _workers[w].Assign(generation);

            bool wasInside = _insideWork;
            _insideWork = true;
            try
            {
                int i;
                while ((i = Interlocked.Increment(ref _next) - 1) < count) work(state, i);
            }
            finally
            {
                _insideWork = wasInside;
            }
            Interlocked.Or(ref _join, Closed);
            var spinner = new SpinWait();
            while ((Volatile.Read(ref _join) & CountMask) != 0) spinner.SpinOnce(sleep1Threshold: -1);
            _state = null;
        }

        public void Shutdown()
        {
            _stopping = true;
            foreach (var w in _workers) w.Wake();
        }

        private sealed class Worker
        {
            private readonly Pool _pool;
            private readonly int _index;
            private readonly SemaphoreSlim _signal = new(0);
            private int _sleeping;
            private long _ticket;
            private long _seen;

            public Worker(Pool pool, int index)
            {
                _pool = pool;
                _index = index;
                Thread = new Thread(Loop) { IsBackground = true, Name = $"LoraServe kernel {index + 1}" };
            }

            public Thread Thread { get; }

            public void Assign(long generation)
            {
                Volatile.Write(ref _ticket, generation);
                Wake();
            }

            public void Wake()
            {
                if (Interlocked.Exchange(ref _sleeping, 0) == 1) _signal.Release();
            }

            private void Loop()
            {
                _insideWork = true;
                while (true)
                {
                    long ticket = WaitForJob();
                    if (_pool._stopping) return;
                    _seen = ticket;
                    if (!TryJoin(ticket)) continue;
                    var work = _pool._work;
                    void* state = _pool._state;
                    int count = _pool._count, i;
                    while ((i = Interlocked.Increment(ref _pool._next) - 1) < count) work(state, i);
                    Interlocked.Decrement(ref _pool._join);
                }
            }

            private bool TryJoin(long ticket)
            {
                while (true)
                {
                    long join = Volatile.Read(ref _pool._join);
                    if (join >> 32 != ticket || (join & Closed) != 0) return false;
                    if (Interlocked.CompareExchange(ref _pool._join, join + 1, join) == join) return true;
                }
            }

            private long WaitForJob()
            {
                for (int spin = 0; spin < SpinIterations; spin++)
                {
                    long g = Volatile.Read(ref _ticket);
                    if (g != _seen || _pool._stopping) return g;
                    Thread.SpinWait(20);
                }
                while (true)
                {
                    // A full fence (not a release write) between publishing "sleeping" and re-reading
                    // the ticket: otherwise the load may pass the store and both sides miss each other
                    // (the caller writes the ticket, then Interlocked-exchanges the flag).
                    Interlocked.Exchange(ref _sleeping, 1);
                    long g = Volatile.Read(ref _ticket);
                    if (g != _seen || _pool._stopping)
                    {
                        // Take the flag back; if the caller already took it, it released the semaphore: consume that.
                        if (Interlocked.Exchange(ref _sleeping, 0) == 0) _signal.Wait();
                        return g;
                    }
                    _signal.Wait();
                    g = Volatile.Read(ref _ticket);
                    if (g != _seen || _pool._stopping) return g;
                    Debug.Assert(false, $"kernel worker {_index} woken without a new job");
                }
            }
        }
    }
}
