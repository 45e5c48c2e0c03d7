using LoraServe.Core.Kernels;
using LoraServe.Lora.Execution;
using LoraServe.Models.Llama;
using LoraServe.Training.Data;

namespace LoraServe.Training.Tests.Infrastructure;

/// <summary>
/// A task a LoRA adapter can learn in a few dozen steps on a random tiny model: after any 4-token
/// prompt, answer with the fixed tokens 50, 60, 70. Greedy decoding tells at once whether it was learnt.
/// </summary>
internal static class SyntheticTask
{
    public static readonly int[] Answer = [50, 60, 70];

    public static List<TrainingExample> Examples(int count, int seed, int vocab)
    {
        var rng = new Random(seed);
        var list = new List<TrainingExample>();
        for (int i = 0; i < count; i++)
        {
            var prompt = Enumerable.Range(0, 4).Select(_ => rng.Next(1, 40)).ToArray();
            list.Add(TrainingExample.FromSegments([(prompt, false), (Answer, true)], 64, i + 1));
        }
        return list;
    }

    /// <summary>Greedy continuation through the inference engine (LlamaModel + paged KV, optional LoRA delta).</summary>
    public static int[] Greedy(LlamaModel model, int[] prompt, int count, SegmentedLoraDelta? delta, Lora.Adapters.LoraAdapter? adapter)
    {
        var tokens = prompt.ToList();
        var logits = new float[model.Config.VocabSize];
        for (int n = 0; n < count; n++)
        {
            using var cache = model.CreateKvCache(numBlocks: 8, blockSize: 16);
            var ids = tokens.ToArray();
            var seq = new AttentionSequence(0, ids.Length, 0, Enumerable.Range(0, cache.BlocksFor(ids.Length)).ToArray());
            if (delta is not null) delta.Configure(Enumerable.Repeat(adapter, ids.Length).ToArray());
            var batch = ForwardBatch.LastTokenLogits(ids, [seq]);
            batch = new ForwardBatch(ids, [seq], batch.LogitRows) { Delta = delta };
            model.Forward(batch, cache, logits);
            int best = 0;
            for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[best]) best = i;
            tokens.Add(best);
        }
        return tokens.Skip(prompt.Length).ToArray();
    }
}
