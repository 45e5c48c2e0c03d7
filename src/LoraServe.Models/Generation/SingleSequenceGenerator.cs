using LoraServe.Core.Kernels;
using LoraServe.Core.Kv;
using LoraServe.Models.Llama;

namespace LoraServe.Models.Generation;

/// <summary>
/// Runs one prompt to completion on its own paged KV cache: a prefill step, then one decode step
/// per token. The command-line `generate` uses it; the serving engine batches many sequences
/// instead but drives <see cref="LlamaModel.Forward"/> the same way.
/// </summary>
public sealed class SingleSequenceGenerator(LlamaModel model, int blockSize = 16)
{
    /// <param name="delta">per-row projection corrections for every step (a LoRA adapter), or null for the base model</param>
    public IEnumerable<GeneratedToken> Generate(IReadOnlyList<int> prompt, GenerationOptions options, ILinearDelta? delta = null)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        options.Sampling.Validate();
        if (prompt.Count == 0) throw new ArgumentException("the prompt has no tokens", nameof(prompt));
        if (options.MaxTokens < 1) throw new ArgumentException($"max tokens must be ≥ 1, got {options.MaxTokens}", nameof(options));
        int contextLength = model.Config.MaxPositionEmbeddings;
        if (prompt.Count >= contextLength)
            throw new ArgumentException($"the prompt has {prompt.Count} tokens; the model's context is {contextLength} (max_position_embeddings) and at least one must be left to generate");
        return Run(prompt, options, Math.Min(options.MaxTokens, contextLength - prompt.Count), delta);
    }

    private IEnumerable<GeneratedToken> Run(IReadOnlyList<int> prompt, GenerationOptions options, int maxNew, ILinearDelta? delta)
    {
        int total = prompt.Count + maxNew;
        int blocks = (total + blockSize - 1) / blockSize;
        using PagedKvCache cache = model.CreateKvCache(blocks, blockSize);
        int[] table = new int[blocks];
        for (int i = 0; i < blocks; i++) table[i] = i;
        var rng = new Random(options.Sampling.Seed is { } seed ? unchecked((int)seed ^ (int)(seed >> 32)) : Random.Shared.Next());
        var logits = new float[model.Config.VocabSize];
        int[] step = [.. prompt];
        int position = 0;
        for (int produced = 0; produced < maxNew; produced++)
        {
            var sequence = new AttentionSequence(0, step.Length, position, table);
            model.Forward(new ForwardBatch(step, [sequence], [step.Length - 1]) { Delta = delta }, cache, logits);
            position += step.Length;
            int token = Sampler.Sample(logits, options.Sampling, rng, out float logProb);
            bool eos = !options.IgnoreEos && options.StopTokenIds.Contains(token);
            var finish = eos ? FinishReason.Stop : produced + 1 == maxNew ? FinishReason.Length : FinishReason.None;
            yield return new GeneratedToken(token, logProb, finish);
            if (finish != FinishReason.None) yield break;
            step = [token];
        }
    }
}
