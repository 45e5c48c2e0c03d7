using LoraServe.Models.Llama;
using LoraServe.Testing;
using LoraServe.Training.Model;
using static LoraServe.Training.Tests.Infrastructure.GradientCheck;

namespace LoraServe.Training.Tests.Model;

/// <summary>
/// The whole model's gradients against central finite differences of the shared float64
/// <see cref="ReferenceForward"/> (which shares no code with the training forward), on a tiny
/// GQA config with two sequences of different lengths and a loss on some rows only.
/// </summary>
public sealed class ModelGradientTests
{
    private static readonly (int[] Tokens, int[] Targets)[] Sequences =
    [
        ([5, 17, 3, 88, 42, 9], [-1, -1, 88, 42, 9, 1]),
        ([60, 2, 2, 71], [2, 2, 71, -1]),
    ];

    /// <summary>Σ over target rows of −log softmax(logits)[target], in float64 from the reference forward.</summary>
    private static double ReferenceLoss(InMemoryModel m, IReadOnlyDictionary<(int, LinearKind), ReferenceLoraModule>? lora)
    {
        double loss = 0;
        foreach (var (tokens, targets) in Sequences)
        {
            var logits = ReferenceForward.Logits(m, tokens, lora);
            int vocab = logits.GetLength(1);
            for (int t = 0; t < tokens.Length; t++)
            {
                if (targets[t] < 0) continue;
                double max = double.NegativeInfinity, sum = 0;
                for (int i = 0; i < vocab; i++) max = Math.Max(max, logits[t, i]);
                for (int i = 0; i < vocab; i++) sum += Math.Exp(logits[t, i] - max);
                loss += max + Math.Log(sum) - logits[t, targets[t]];
            }
        }
        return loss;
    }

    /// <summary>FD over sampled elements of a float32 array the reference reads, with the actual (rounded) step.</summary>
    private static double[] SampledFd(float[] values, int[] indices, Func<double> loss, float h = 1f / 4096)
    {
        var g = new double[indices.Length];
        for (int n = 0; n < indices.Length; n++)
        {
            int i = indices[n];
            float keep = values[i];
            float up = keep + h, down = keep - h;
            values[i] = up;
            double lp = loss();
            values[i] = down;
            double lm = loss();
            values[i] = keep;
            g[n] = (lp - lm) / ((double)up - down);
        }
        return g;
    }

    private static int[] Sample(Random rng, int length, int count) =>
        Enumerable.Range(0, Math.Min(count, length)).Select(_ => rng.Next(length)).Distinct().ToArray();

    [Fact]
    public void Lora_gradients_of_the_whole_model_match_finite_differences()
    {
        var config = InMemoryModel.TinyConfig(hidden: 24, heads: 4, kvHeads: 2, layers: 2, vocab: 97);
        using var m = new InMemoryModel(config, seed: 11);
        var lora = new LoraSet(config, LinearKinds.All, rank: 3, alpha: 6, useRsLora: false);
        var rng = new Random(12);
        foreach (var f in lora.Modules)
        {
            // B is non-zero here (unlike PEFT init) so the gradient of A is non-zero too.
            Random(rng, f.A.Length, 0.3).CopyTo(f.A, 0);
            Random(rng, f.B.Length, 0.3).CopyTo(f.B, 0);
        }
        using var model = new TrainingModel(m.Weights, lora, null, maxPositions: 16);
        double loss = model.ForwardBackward(TrainingBatch.FromSequences(Sequences), 1f);

        var refLora = lora.Modules.ToDictionary(f => (f.Layer, f.Kind), f => new ReferenceLoraModule(f.A, f.B, f.Rank, f.Scale));
        Assert.Equal(ReferenceLoss(m, refLora), loss, 3);
        foreach (var f in lora.Modules)
        {
            var ia = Sample(rng, f.A.Length, 12);
            AssertClose(SampledFd(f.A, ia, () => ReferenceLoss(m, refLora)), ia.Select(i => f.GradA[i]).ToArray(), $"layer {f.Layer} {f.Kind} dA");
            var ib = Sample(rng, f.B.Length, 12);
            AssertClose(SampledFd(f.B, ib, () => ReferenceLoss(m, refLora)), ib.Select(i => f.GradB[i]).ToArray(), $"layer {f.Layer} {f.Kind} dB");
        }
    }

    [Fact]
    public void Full_parameter_gradients_match_finite_differences()
    {
        var config = InMemoryModel.TinyConfig(hidden: 24, heads: 4, kvHeads: 2, layers: 2, vocab: 97);
        using var m = new InMemoryModel(config, seed: 13);
        var full = new FullParameters(m.Weights);
        using var model = new TrainingModel(full.Weights, null, full, maxPositions: 16);
        model.ForwardBackward(TrainingBatch.FromSequences(Sequences), 1f);

        var rng = new Random(14);
        double Loss() => ReferenceLoss(m, null);
        // The reference reads the InMemoryModel's arrays; FullParameters trained on copies of them.
        var byName = full.Tensors.ToDictionary(t => t.Name);
        void Check(string name, float[] referenceArray)
        {
            var t = byName[name];
            var idx = Sample(rng, referenceArray.Length, 10);
            AssertClose(SampledFd(referenceArray, idx, Loss), idx.Select(i => t.Grad[i]).ToArray(), name);
        }
        Check("model.embed_tokens.weight", m.Embedding);
        Check("model.norm.weight", m.FinalNorm);
        for (int l = 0; l < config.NumLayers; l++)
        {
            var L = m.Layers[l];
            Check($"model.layers.{l}.input_layernorm.weight", L.InputNorm);
            Check($"model.layers.{l}.post_attention_layernorm.weight", L.PostNorm);
            Check($"model.layers.{l}.self_attn.q_proj.weight", L.Q);
            Check($"model.layers.{l}.self_attn.k_proj.weight", L.K);
            Check($"model.layers.{l}.self_attn.v_proj.weight", L.V);
            Check($"model.layers.{l}.self_attn.o_proj.weight", L.O);
            Check($"model.layers.{l}.mlp.gate_proj.weight", L.Gate);
            Check($"model.layers.{l}.mlp.up_proj.weight", L.Up);
            Check($"model.layers.{l}.mlp.down_proj.weight", L.Down);
        }
    }
}
