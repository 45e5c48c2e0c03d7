using LoraServe.Core.Kernels;
using LoraServe.Core.Tensors;
using LoraServe.Models.Llama;
using LoraServe.Training.Kernels;
using LoraServe.Training.Model;
using LoraServe.Training.Tests.Infrastructure;
using static LoraServe.Training.Tests.Infrastructure.GradientCheck;

namespace LoraServe.Training.Tests.Kernels;

/// <summary>
/// Each backward kernel against central finite differences of a float64 reference forward written
/// here from the op's definition. The scalar loss is L = Σ dy ⊙ f(x) for a random upstream dy, so
/// ∂L/∂x is exactly what the backward must produce for that dy. Sizes are odd on purpose (tails).
/// </summary>
public sealed class KernelGradientTests
{
    [Fact]
    public void RmsNorm_backward_matches_finite_differences()
    {
        var rng = new Random(1);
        int rows = 5, dim = 37;
        float eps = 1e-5f;
        var x = Random(rng, rows * dim, 2);
        var w = Random(rng, dim, 1.5);
        var dy = Random(rng, rows * dim);
        double Ref(double[] xs, double[] ws)
        {
            double l = 0;
            for (int r = 0; r < rows; r++)
            {
                double ss = 0;
                for (int i = 0; i < dim; i++) ss += xs[r * dim + i] * xs[r * dim + i];
                double inv = 1 / Math.Sqrt(ss / dim + eps);
                for (int i = 0; i < dim; i++) l += dy[r * dim + i] * xs[r * dim + i] * inv * ws[i];
            }
            return l;
        }
        var y = new float[rows * dim];
        var invRms = new float[rows];
        RmsNormTraining.Forward(x, w, eps, y, invRms, rows);
        var dx = new float[rows * dim];
        var dw = new float[dim];
        RmsNormTraining.Backward(dy, x, w, invRms, dx, dw, rows);
        var wd = ToDouble(w);
        var xd = ToDouble(x);
        AssertClose(Central(xs => Ref(xs, wd), ToDouble(x)), dx, "dx");
        AssertClose(Central(ws => Ref(xd, ws), ToDouble(w)), dw, "dweight");
    }

    [Fact]
    public void Rope_backward_matches_finite_differences_and_forward_matches_inference_rope()
    {
        var rng = new Random(2);
        int tokens = 6, heads = 3, hd = 10;
        var rope = new RopeTraining(hd, 10000, null, 64);
        int[] positions = [0, 1, 2, 7, 30, 63];
        var x = Random(rng, tokens * heads * hd);
        var dy = Random(rng, tokens * heads * hd);
        var inv = Rope.ComputeInverseFrequencies(hd, 10000, null);
        double Ref(double[] xs)
        {
            double l = 0;
            int half = hd / 2;
            for (int t = 0; t < tokens; t++)
                for (int h = 0; h < heads; h++)
                    for (int i = 0; i < half; i++)
                    {
                        double a = (float)positions[t] * inv[i], c = Math.Cos(a), s = Math.Sin(a);
                        int o = (t * heads + h) * hd;
                        double x1 = xs[o + i], x2 = xs[o + i + half];
                        l += dy[o + i] * (x1 * c - x2 * s) + dy[o + i + half] * (x2 * c + x1 * s);
                    }
            return l;
        }
        var fwd = (float[])x.Clone();
        rope.Forward(fwd, positions, heads);
        var inference = (float[])x.Clone();
        new Rope(hd, 10000).Apply(inference, positions, heads);
        Assert.Equal(inference, fwd);
        var dx = (float[])dy.Clone();
        rope.Backward(dx, positions, heads);
        AssertClose(Central(Ref, ToDouble(x)), dx, "dx");
    }

    [Fact]
    public void SwiGlu_backward_matches_finite_differences()
    {
        var rng = new Random(3);
        int n = 53;
        var gate = Random(rng, n, 4);
        var up = Random(rng, n, 2);
        var dy = Random(rng, n);
        double Ref(double[] g, double[] u)
        {
            double l = 0;
            for (int i = 0; i < n; i++) l += dy[i] * g[i] / (1 + Math.Exp(-g[i])) * u[i];
            return l;
        }
        var dg = new float[n];
        var du = new float[n];
        SwiGlu.Backward(dy, gate, up, dg, du);
        var ud = ToDouble(up);
        var gd = ToDouble(gate);
        AssertClose(Central(g => Ref(g, ud), ToDouble(gate)), dg, "dgate");
        AssertClose(Central(u => Ref(gd, u), ToDouble(up)), du, "dup");
        var act = new float[n];
        SwiGlu.Forward(gate, up, act);
        for (int i = 0; i < n; i++) Assert.Equal(gate[i] / (1 + Math.Exp(-gate[i])) * up[i], act[i], 5);
    }

    [Fact]
    public void CrossEntropy_gradient_matches_finite_differences_and_loss_matches_log_softmax()
    {
        var rng = new Random(4);
        int rows = 4, vocab = 29;
        var z = Random(rng, rows * vocab, 3);
        int[] targets = [0, 28, 5, 5];
        float weight = 0.37f;
        double Ref(double[] zs)
        {
            double l = 0;
            for (int r = 0; r < rows; r++)
            {
                double max = double.NegativeInfinity, sum = 0;
                for (int i = 0; i < vocab; i++) max = Math.Max(max, zs[r * vocab + i]);
                for (int i = 0; i < vocab; i++) sum += Math.Exp(zs[r * vocab + i] - max);
                l += weight * (max + Math.Log(sum) - zs[r * vocab + targets[r]]);
            }
            return l;
        }
        var grad = (float[])z.Clone();
        var losses = new double[rows];
        CrossEntropy.ForwardBackward(grad, targets, vocab, weight, losses);
        Assert.Equal(Ref(ToDouble(z)), weight * losses.Sum(), 5);
        AssertClose(Central(Ref, ToDouble(z)), grad, "dlogits");
    }

    [Fact]
    public void Attention_backward_matches_finite_differences_for_two_sequences_with_gqa()
    {
        var rng = new Random(5);
        int[] lengths = [4, 7];
        int tokens = 11, heads = 4, kvHeads = 2, hd = 6, qd = heads * hd, kvd = kvHeads * hd;
        float scale = 1f / MathF.Sqrt(hd);
        var q = Random(rng, tokens * qd);
        var k = Random(rng, tokens * kvd);
        var v = Random(rng, tokens * kvd);
        var dy = Random(rng, tokens * qd);
        double Ref(double[] qs, double[] ks, double[] vs)
        {
            double l = 0;
            int row0 = 0;
            foreach (int len in lengths)
            {
                for (int h = 0; h < heads; h++)
                {
                    int g = h / (heads / kvHeads);
                    for (int t = 0; t < len; t++)
                    {
                        var s = new double[t + 1];
                        double max = double.NegativeInfinity, z = 0;
                        for (int p = 0; p <= t; p++)
                        {
                            for (int i = 0; i < hd; i++) s[p] += qs[(row0 + t) * qd + h * hd + i] * ks[(row0 + p) * kvd + g * hd + i];
                            s[p] *= scale;
                            max = Math.Max(max, s[p]);
                        }
                        for (int p = 0; p <= t; p++) { s[p] = Math.Exp(s[p] - max); z += s[p]; }
                        for (int p = 0; p <= t; p++)
                            for (int i = 0; i < hd; i++) l += dy[(row0 + t) * qd + h * hd + i] * s[p] / z * vs[(row0 + p) * kvd + g * hd + i];
                    }
                }
                row0 += len;
            }
            return l;
        }
        var probs = new float[CausalAttention.ProbabilityFloats(lengths, heads)];
        var output = new float[tokens * qd];
        CausalAttention.Forward(q, k, v, lengths, heads, kvHeads, hd, scale, probs, output);
        var dq = new float[q.Length];
        var dk = new float[k.Length];
        var dv = new float[v.Length];
        CausalAttention.Backward(dy, q, k, v, probs, lengths, heads, kvHeads, hd, scale, dq, dk, dv);
        double[] qd64 = ToDouble(q), kd64 = ToDouble(k), vd64 = ToDouble(v);
        AssertClose(Central(x => Ref(x, kd64, vd64), ToDouble(q)), dq, "dq");
        AssertClose(Central(x => Ref(qd64, x, vd64), ToDouble(k)), dk, "dk");
        AssertClose(Central(x => Ref(qd64, kd64, x), ToDouble(v)), dv, "dv");
    }

    [Fact]
    public unsafe void LinearLora_backward_matches_finite_differences_for_x_A_B_and_W()
    {
        var rng = new Random(6);
        int tokens = 5, inDim = 19, outDim = 23, r = 3;
        var x = Random(rng, tokens * inDim);
        var w = Random(rng, outDim * inDim, 0.3);
        var bias = Random(rng, outDim);
        var lora = new LoraFactors(0, LinearKind.Q, r, inDim, outDim, scale: 1.7f);
        Random(rng, lora.A.Length, 0.4).CopyTo(lora.A, 0);
        Random(rng, lora.B.Length, 0.4).CopyTo(lora.B, 0);
        var dy = Random(rng, tokens * outDim);
        double Ref(double[] xs, double[] ws, double[] a, double[] b, double[] bs)
        {
            double l = 0;
            for (int t = 0; t < tokens; t++)
            {
                var sh = new double[r];
                for (int j = 0; j < r; j++) for (int i = 0; i < inDim; i++) sh[j] += xs[t * inDim + i] * a[j * inDim + i];
                for (int o = 0; o < outDim; o++)
                {
                    double y = bs[o];
                    for (int i = 0; i < inDim; i++) y += xs[t * inDim + i] * ws[o * inDim + i];
                    for (int j = 0; j < r; j++) y += 1.7f * sh[j] * b[o * r + j];
                    l += dy[t * outDim + o] * y;
                }
            }
            return l;
        }
        fixed (float* wp = w)
        {
            var wm = new WeightMatrix((nint)wp, outDim, inDim, DType.F32, "w");
            using var wT = new TransposedWeight(wm);
            var ws = new Workspace();
            var shrunk = new float[tokens * r];
            var y = new float[tokens * outDim];
            LinearLora.Forward(x, tokens, wm, bias, lora, shrunk, y, false, ws);
            var dx = new float[tokens * inDim];
            var dW = new float[w.Length];
            var dBias = new float[outDim];
            LinearLora.Backward(dy, x, tokens, wT.Matrix, lora, shrunk, dx, false, dW, dBias, ws);
            double[] X = ToDouble(x), W = ToDouble(w), A = ToDouble(lora.A), B = ToDouble(lora.B), Bs = ToDouble(bias);
            AssertClose(Central(v => Ref(v, W, A, B, Bs), ToDouble(x)), dx, "dx");
            AssertClose(Central(v => Ref(X, v, A, B, Bs), ToDouble(w)), dW, "dW");
            AssertClose(Central(v => Ref(X, W, v, B, Bs), ToDouble(lora.A)), lora.GradA, "dA");
            AssertClose(Central(v => Ref(X, W, A, v, Bs), ToDouble(lora.B)), lora.GradB, "dB");
            AssertClose(Central(v => Ref(X, W, A, B, v), ToDouble(bias)), dBias, "dbias");
        }
    }

    [Fact]
    public unsafe void Embedding_backward_matches_finite_differences_with_repeated_tokens()
    {
        var rng = new Random(7);
        int vocab = 11, hidden = 9;
        int[] ids = [3, 0, 3, 10, 3];
        var table = Random(rng, vocab * hidden);
        var dy = Random(rng, ids.Length * hidden);
        double Ref(double[] e)
        {
            double l = 0;
            for (int t = 0; t < ids.Length; t++) for (int i = 0; i < hidden; i++) l += dy[t * hidden + i] * e[ids[t] * hidden + i];
            return l;
        }
        fixed (float* tp = table)
        {
            var h = new float[ids.Length * hidden];
            Embedding.Forward(new WeightMatrix((nint)tp, vocab, hidden, DType.F32), ids, h);
            Assert.Equal(table.AsSpan(3 * hidden, hidden).ToArray(), h.AsSpan(0, hidden).ToArray());
        }
        var grad = new float[table.Length];
        Embedding.Backward(dy, ids, hidden, grad);
        AssertClose(Central(Ref, ToDouble(table)), grad, "dtable");
    }
}
