using System.Numerics.Tensors;
using LoraServe.Core.Kernels;
using LoraServe.Core.Threading;

namespace LoraServe.Training.Kernels;

/// <summary>
/// Full causal self-attention over contiguous per-sequence K/V (no paging: a training batch is
/// whole sequences), grouped-query: query head h reads KV head h / (heads / kvHeads). The forward
/// saves the probabilities P for the backward (sequences are short in training; storing P costs
/// heads·len² floats per sequence and saves recomputing the softmax). With S = scale·q·kᵀ,
/// P = softmax(S) over p ≤ t, out = P·v; backward: dP = dout·vᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P)),
/// dq = scale·dS·k, dk = scale·dSᵀ·q, dv = Pᵀ·dout.
/// </summary>
public static unsafe class CausalAttention
{
    /// <summary>Floats of saved probabilities for sequences of these lengths: Σ heads·len².</summary>
    public static long ProbabilityFloats(ReadOnlySpan<int> lengths, int heads)
    {
        long n = 0;
        foreach (int len in lengths) n += (long)heads * len * len;
        return n;
    }

    /// <summary>
    /// q, output: (tokens, heads·headDim); k, v: (tokens, kvHeads·headDim); sequences are consecutive
    /// row ranges of the given lengths. probs receives P, (Σ heads·len²), sequence by sequence.
    /// </summary>
    public static void Forward(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<int> lengths,
        int heads, int kvHeads, int headDim, float scale, Span<float> probs, Span<float> output)
    {
        fixed (float* qp = q) fixed (float* kp = k) fixed (float* vp = v) fixed (float* pp = probs) fixed (float* op = output) fixed (int* lp = lengths)
        {
            var job = Prepare(lengths, heads, kvHeads, headDim, scale, q.Length, k.Length, v.Length, probs.Length, output.Length);
            job.Q = qp; job.K = kp; job.V = vp; job.P = pp; job.Out = op; job.Lengths = lp;
            Span<long> rowStart = stackalloc long[lengths.Length];
            Span<long> probStart = stackalloc long[lengths.Length];
            Offsets(lengths, heads, rowStart, probStart);
            fixed (long* rs = rowStart) fixed (long* ps = probStart)
            {
                job.RowStart = rs; job.ProbStart = ps;
                KernelThreadPool.Run(&ForwardTask, &job, lengths.Length * kvHeads);
            }
        }
    }

    /// <summary>
    /// dOut: (tokens, heads·headDim); q, k, v, probs as saved by the forward. Writes (overwrites)
    /// dq: (tokens, heads·headDim), dk and dv: (tokens, kvHeads·headDim). One task per (sequence, KV
    /// head) owns that head's dk/dv columns, so no two threads write the same element.
    /// </summary>
    public static void Backward(ReadOnlySpan<float> dOut, ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v,
        ReadOnlySpan<float> probs, ReadOnlySpan<int> lengths, int heads, int kvHeads, int headDim, float scale,
        Span<float> dq, Span<float> dk, Span<float> dv)
    {
        fixed (float* dop = dOut) fixed (float* qp = q) fixed (float* kp = k) fixed (float* vp = v) fixed (float* pp = probs)
        fixed (float* dqp = dq) fixed (float* dkp = dk) fixed (float* dvp = dv) fixed (int* lp = lengths)
        {
            var job = Prepare(lengths, heads, kvHeads, headDim, scale, q.Length, k.Length, v.Length, probs.Length, dOut.Length);
            if (dq.Length < job.Tokens * heads * headDim || dk.Length < job.Tokens * kvHeads * headDim || dv.Length < job.Tokens * kvHeads * headDim)
                throw new ArgumentException($"a gradient buffer holds fewer floats than {job.Tokens} tokens need");
            job.Q = qp; job.K = kp; job.V = vp; job.P = pp; job.Out = dop; job.Lengths = lp;
            job.Dq = dqp; job.Dk = dkp; job.Dv = dvp;
            Span<long> rowStart = stackalloc long[lengths.Length];
            Span<long> probStart = stackalloc long[lengths.Length];
            Offsets(lengths, heads, rowStart, probStart);
            fixed (long* rs = rowStart) fixed (long* ps = probStart)
            {
                job.RowStart = rs; job.ProbStart = ps;
                KernelThreadPool.Run(&BackwardTask, &job, lengths.Length * kvHeads);
            }
        }
    }

    private struct Job
    {
        public float* Q, K, V, P, Out, Dq, Dk, Dv;
        public int* Lengths;
        public long* RowStart, ProbStart;
        public int Heads, KvHeads, HeadDim;
        public float Scale;
        public long Tokens;
    }

    /// <summary>Validates the shapes shared by forward and backward; the job's <see cref="Job.Tokens"/> is the batch's row count.</summary>
    private static Job Prepare(ReadOnlySpan<int> lengths, int heads, int kvHeads, int headDim, float scale,
        int qLength, int kLength, int vLength, int probsLength, int outLength)
    {
        if (heads % kvHeads != 0) throw new ArgumentException($"{heads} query heads are not a multiple of {kvHeads} KV heads");
        long tokens = 0;
        foreach (int len in lengths)
        {
            if (len <= 0) throw new ArgumentException("every sequence needs at least one token", nameof(lengths));
            tokens += len;
        }
        if (qLength < tokens * heads * headDim || outLength < tokens * heads * headDim)
            throw new ArgumentException($"q/output hold fewer than {tokens}x{heads * headDim} floats");
        if (kLength < tokens * kvHeads * headDim || vLength < tokens * kvHeads * headDim)
            throw new ArgumentException($"k/v hold fewer floats than {tokens} tokens need");
        if (probsLength < ProbabilityFloats(lengths, heads)) throw new ArgumentException($"probs holds {probsLength} floats, needs {ProbabilityFloats(lengths, heads)}");
        return new Job { Heads = heads, KvHeads = kvHeads, HeadDim = headDim, Scale = scale, Tokens = tokens };
    }

    private static void Offsets(ReadOnlySpan<int> lengths, int heads, Span<long> rowStart, Span<long> probStart)
    {
        long row = 0, prob = 0;
        for (int s = 0; s < lengths.Length; s++)
        {
            rowStart[s] = row;
            probStart[s] = prob;
            row += lengths[s];
            prob += (long)heads * lengths[s] * lengths[s];
        }
    }

    /// <summary>Per-thread scratch of one (sequence, KV head) task; grown, never shrunk.</summary>
    [ThreadStatic] private static float[]? t_scratch;

    private static Span<float> Scratch(long floats)
    {
        if (t_scratch is null || t_scratch.Length < floats) t_scratch = new float[floats];
        return t_scratch.AsSpan(0, (int)floats);
    }

    /// <summary>Copies columns [col, col + width) of rows [row0, row0 + rows) of a (·, stride) matrix into a dense (rows, width) block.</summary>
    private static void Gather(float* src, long row0, int rows, int stride, int col, int width, Span<float> dst)
    {
        for (int r = 0; r < rows; r++) new ReadOnlySpan<float>(src + (row0 + r) * stride + col, width).CopyTo(dst.Slice(r * width, width));
    }

    private static void Scatter(ReadOnlySpan<float> src, float* dst, long row0, int rows, int stride, int col, int width)
    {
        for (int r = 0; r < rows; r++) src.Slice(r * width, width).CopyTo(new Span<float>(dst + (row0 + r) * stride + col, width));
    }

    // Each (sequence, KV head) task gathers its heads into dense (len, headDim) blocks and runs the
    // products through Gemm (inline on the worker: the pool is already busy with the tasks), so the
    // inner loops are the tuned tile kernels rather than one short dot product per (t, p) pair.
    // The full len×len square is computed and the upper triangle masked: at training lengths the
    // wasted half costs less than a triangular loop of short vectors.
    private static void ForwardTask(void* state, int task)
    {
        var j = (Job*)state;
        int s = task / j->KvHeads, g = task % j->KvHeads, len = j->Lengths[s], hd = j->HeadDim;
        int group = j->Heads / j->KvHeads, qStride = j->Heads * hd, kvStride = j->KvHeads * hd;
        long row0 = j->RowStart[s], block = (long)len * hd;
        var buf = Scratch(4 * block);
        Span<float> k = buf.Slice(0, (int)block), vT = buf.Slice((int)block, (int)block), q = buf.Slice(2 * (int)block, (int)block), o = buf.Slice(3 * (int)block, (int)block);
        Gather(j->K, row0, len, kvStride, g * hd, hd, k);
        Gather(j->V, row0, len, kvStride, g * hd, hd, o);
        Transpose.Apply<float>(o, len, hd, vT);
        for (int h = g * group; h < (g + 1) * group; h++)
        {
            var p = new Span<float>(j->P + j->ProbStart[s] + (long)h * len * len, len * len);
            Gather(j->Q, row0, len, qStride, h * hd, hd, q);
            Gemm.MatMulTransposed(q, len, k, len, hd, p);
            for (int t = 0; t < len; t++)
            {
                var row = p.Slice(t * len, len);
                var live = row.Slice(0, t + 1);
                TensorPrimitives.Multiply(live, j->Scale, live);
                float max = TensorPrimitives.Max(live);
                TensorPrimitives.Subtract(live, max, live);
                TensorPrimitives.Exp(live, live);
                TensorPrimitives.Divide(live, TensorPrimitives.Sum(live), live);
                row.Slice(t + 1).Clear();
            }
            Gemm.MatMulTransposed(p, len, vT, hd, len, o);
            Scatter(o, j->Out, row0, len, qStride, h * hd, hd);
        }
    }

    private static void BackwardTask(void* state, int task)
    {
        var j = (Job*)state;
        int s = task / j->KvHeads, g = task % j->KvHeads, len = j->Lengths[s], hd = j->HeadDim;
        int group = j->Heads / j->KvHeads, qStride = j->Heads * hd, kvStride = j->KvHeads * hd;
        long row0 = j->RowStart[s];
        int block = len * hd, square = len * len;
        var buf = Scratch(8L * block + 3L * square);
        Span<float> v = buf.Slice(0, block), kT = buf.Slice(block, block), q = buf.Slice(2 * block, block), qT = buf.Slice(3 * block, block);
        Span<float> dO = buf.Slice(4 * block, block), dOT = buf.Slice(5 * block, block), dK = buf.Slice(6 * block, block), dV = buf.Slice(7 * block, block);
        Span<float> dS = buf.Slice(8 * block, square), dST = buf.Slice(8 * block + square, square), pT = buf.Slice(8 * block + 2 * square, square);
        Gather(j->V, row0, len, kvStride, g * hd, hd, v);
        Gather(j->K, row0, len, kvStride, g * hd, hd, q);
        Transpose.Apply<float>(q, len, hd, kT);
        dK.Clear();
        dV.Clear();
        for (int h = g * group; h < (g + 1) * group; h++)
        {
            var p = new ReadOnlySpan<float>(j->P + j->ProbStart[s] + (long)h * len * len, square);
            Gather(j->Q, row0, len, qStride, h * hd, hd, q);
            Gather(j->Out, row0, len, qStride, h * hd, hd, dO);
            // dP = dO·vᵀ, then dS = scale·P ⊙ (dP − rowsum(dP ⊙ P)) row by row (zero above the diagonal).
            Gemm.MatMulTransposed(dO, len, v, len, hd, dS);
            for (int t = 0; t < len; t++)
            {
                var row = dS.Slice(t * len, len);
                var live = row.Slice(0, t + 1);
                var prow = p.Slice(t * len, t + 1);
                float dot = TensorPrimitives.Dot(live, prow);
                TensorPrimitives.Subtract(live, dot, live);
                TensorPrimitives.Multiply(live, prow, live);
                TensorPrimitives.Multiply(live, j->Scale, live);
                row.Slice(t + 1).Clear();
            }
            // dq = dS·k (qT is free until q is transposed below)
            Gemm.MatMulTransposed(dS, len, kT, hd, len, qT);
            Scatter(qT, j->Dq, row0, len, qStride, h * hd, hd);
            // dk += dSᵀ·q, dv += Pᵀ·dO
            Transpose.Apply<float>(dS, len, len, dST);
            Transpose.Apply<float>(q, len, hd, qT);
            Gemm.MatMulTransposed(dST, len, qT, hd, len, dK, accumulate: true);
            Transpose.Apply(p, len, len, pT);
            Transpose.Apply<float>(dO, len, hd, dOT);
            Gemm.MatMulTransposed(pT, len, dOT, hd, len, dV, accumulate: true);
        }
        Scatter(dK, j->Dk, row0, len, kvStride, g * hd, hd);
        Scatter(dV, j->Dv, row0, len, kvStride, g * hd, hd);
    }
}
