using System.Text.Json;
using System.Text.Json.Nodes;
using LoraServe.Core.Tensors;
using LoraServe.Models.Config;
using LoraServe.Models.Safetensors;

namespace LoraServe.Models.Creation;

/// <summary>
/// Writes a randomly initialised Llama-family model as a real Hugging Face directory
/// (config.json, generation_config.json, model.safetensors or shards + index), which the loaders
/// read exactly as they would a downloaded model — nothing can be downloaded here (DESIGN §8).
/// Weights follow transformers' _init_weights: matrices N(0, initializer_range = 0.02), biases
/// likewise (zeros would hide a missing bias add), norms 1 + N(0, 0.02) (exactly 1 would hide a
/// swapped or missing norm). Values depend only on (seed, tensor name, element index), so the same
/// seed gives identical weights for every shard count and dtype before rounding.
/// Tokenizer files are written elsewhere; the CLI combines both.
/// </summary>
public static class RandomModelWriter
{
    public const float InitializerRange = 0.02f;
    private const string TransformersVersion = "4.47.1";

    /// <summary>One tensor the writer produces: HF name, shape, and init distribution.</summary>
    public sealed record TensorSpec(string Name, long[] Shape, float Mean, float Std);

    public static void Write(string dir, ModelShape shape, int seed, DType dtype, int shards = 1)
    {
        shape.Validate();
        var tensors = TensorLayout(shape);
        if (shards < 1 || shards > tensors.Count)
            throw new ArgumentOutOfRangeException(nameof(shards), shards, $"must be between 1 and the {tensors.Count} tensors of the model");

        dir = Path.GetFullPath(dir);
        Directory.CreateDirectory(dir);
        RemoveOldWeights(dir);
        WriteConfig(dir, shape, dtype);

        if (shards == 1)
        {
            WriteShard(Path.Combine(dir, TensorStore.SingleFileName), tensors, seed, dtype);
            return;
        }

        var assignment = AssignShards(tensors, shards, dtype);
        var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
        long totalSize = 0;
        for (int s = 0; s < shards; s++)
        {
            string file = $"model-{s + 1:D5}-of-{shards:D5}.safetensors";
            var mine = new List<TensorSpec>();
            for (int t = 0; t < tensors.Count; t++)
            {
                if (assignment[t] != s) continue;
                mine.Add(tensors[t]);
                weightMap[tensors[t].Name] = file;
            }
            totalSize += WriteShard(Path.Combine(dir, file), mine, seed, dtype);
        }

        // save_pretrained's index: metadata.total_size = bytes of all tensor data.
        var index = new JsonObject
        {
            ["metadata"] = new JsonObject { ["total_size"] = totalSize },
            ["weight_map"] = new JsonObject(weightMap.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
        };
        File.WriteAllText(Path.Combine(dir, TensorStore.IndexFileName), index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>config.json and generation_config.json only (cheap, for checking a large preset's config).</summary>
    public static void WriteConfig(string dir, ModelShape shape, DType dtype)
    {
        shape.Validate();
        Directory.CreateDirectory(dir);
        var options = new JsonSerializerOptions { WriteIndented = true };
        File.WriteAllText(Path.Combine(dir, ModelConfigLoader.ConfigFileName), HfConfigJson.Build(shape, dtype, TransformersVersion).ToJsonString(options) + "\n");

        var generation = new SortedDictionary<string, JsonNode?>(StringComparer.Ordinal)
        {
            ["_from_model_config"] = true,
            ["bos_token_id"] = shape.BosTokenId,
            ["eos_token_id"] = HfConfigJson.EosNode(shape.EosTokenIds),
            ["transformers_version"] = TransformersVersion,
        };
        File.WriteAllText(Path.Combine(dir, ModelConfigLoader.GenerationConfigFileName), new JsonObject(generation).ToJsonString(options) + "\n");
    }

    /// <summary>Every tensor of the model in HF order (embedding, layers, final norm, untied head).</summary>
    public static IReadOnlyList<TensorSpec> TensorLayout(ModelShape s)
    {
        long hidden = s.HiddenSize, inter = s.IntermediateSize, vocab = s.VocabSize;
        long qOut = (long)s.NumHeads * s.HeadDim, kvOut = (long)s.NumKvHeads * s.HeadDim;
        bool qkvBias = s.Architecture == ModelArchitecture.Qwen2 || (s.Architecture == ModelArchitecture.Llama && s.AttentionBias);
        bool oBias = s.Architecture == ModelArchitecture.Llama && s.AttentionBias;
        bool mlpBias = s.Architecture == ModelArchitecture.Llama && s.MlpBias;

        var list = new List<TensorSpec>();
        void Weight(string name, params long[] shape) => list.Add(new TensorSpec(name, shape, 0f, InitializerRange));
        void Norm(string name) => list.Add(new TensorSpec(name, [hidden], 1f, InitializerRange));

        Weight("model.embed_tokens.weight", vocab, hidden);
        for (int i = 0; i < s.NumLayers; i++)
        {
            string p = $"model.layers.{i}.";
            Norm(p + "input_layernorm.weight");
            Weight(p + "self_attn.q_proj.weight", qOut, hidden);
            Weight(p + "self_attn.k_proj.weight", kvOut, hidden);
            Weight(p + "self_attn.v_proj.weight", kvOut, hidden);
            Weight(p + "self_attn.o_proj.weight", hidden, qOut);
            if (qkvBias)
            {
                Weight(p + "self_attn.q_proj.bias", qOut);
                Weight(p + "self_attn.k_proj.bias", kvOut);
                Weight(p + "self_attn.v_proj.bias", kvOut);
            }
            if (oBias) Weight(p + "self_attn.o_proj.bias", hidden);
            Norm(p + "post_attention_layernorm.weight");
            Weight(p + "mlp.gate_proj.weight", inter, hidden);
            Weight(p + "mlp.up_proj.weight", inter, hidden);
            Weight(p + "mlp.down_proj.weight", hidden, inter);
            if (mlpBias)
            {
                Weight(p + "mlp.gate_proj.bias", inter);
                Weight(p + "mlp.up_proj.bias", inter);
                Weight(p + "mlp.down_proj.bias", hidden);
            }
        }
        Norm("model.norm.weight");
        // Tied checkpoints carry no lm_head.weight (save_pretrained drops shared tensors).
        if (!s.TieWordEmbeddings) Weight("lm_head.weight", vocab, hidden);
        return list;
    }

    /// <summary>The float values written for <paramref name="spec"/> before rounding to the file's dtype.</summary>
    public static void FillValues(int seed, TensorSpec spec, long start, Span<float> destination) =>
        CounterNormal.Fill(CounterNormal.StreamOf(seed, spec.Name), start, destination, spec.Mean, spec.Std);

    private static long WriteShard(string path, IReadOnlyList<TensorSpec> tensors, int seed, DType dtype)
    {
        // {"format": "pt"}: transformers refuses safetensors files without it.
        var writer = new SafetensorsWriter(new Dictionary<string, string> { ["format"] = "pt" });
        foreach (var spec in tensors)
            writer.Add(spec.Name, dtype, spec.Shape, (start, destination) => FillValues(seed, spec, start, destination));
        writer.Save(path);
        return writer.DataBytes;
    }

    /// <summary>
    /// Contiguous split in HF order, each shard about total/shards bytes and never empty
    /// (save_pretrained splits by max_shard_size the same way, in order).
    /// </summary>
    private static int[] AssignShards(IReadOnlyList<TensorSpec> tensors, int shards, DType dtype)
    {
        long Bytes(TensorSpec t)
        {
            long n = dtype.SizeInBytes();
            foreach (long d in t.Shape) n *= d;
            return n;
        }
        long total = 0;
        foreach (var t in tensors) total += Bytes(t);
        long target = (total + shards - 1) / shards;

        var assignment = new int[tensors.Count];
        int shard = 0;
        long inShard = 0;
        int countInShard = 0;
        for (int i = 0; i < tensors.Count; i++)
        {
            int tensorsLeft = tensors.Count - i;
            int shardsLeftAfterThis = shards - 1 - shard;
            if (countInShard > 0 && shardsLeftAfterThis > 0 && (inShard >= target || tensorsLeft == shardsLeftAfterThis))
            {
                shard++;
                inShard = 0;
                countInShard = 0;
            }
            assignment[i] = shard;
            inShard += Bytes(tensors[i]);
            countInShard++;
        }
        return assignment;
    }

    private static void RemoveOldWeights(string dir)
    {
        // A stale model.safetensors would shadow new shards (it is looked up first), and vice versa.
        foreach (var file in Directory.EnumerateFiles(dir, "model*.safetensors"))
            File.Delete(file);
        string index = Path.Combine(dir, TensorStore.IndexFileName);
        if (File.Exists(index)) File.Delete(index);
    }
}
