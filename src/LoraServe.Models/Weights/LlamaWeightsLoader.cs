using LoraServe.Core.Tensors;
using LoraServe.Models.Config;
using LoraServe.Models.Safetensors;

namespace LoraServe.Models.Weights;

/// <summary>
/// Loads a Llama-family checkpoint (Hugging Face tensor names, as LlamaForCausalLM /
/// MistralForCausalLM / Qwen2ForCausalLM save them) into <see cref="LlamaWeights"/>. The files are
/// memory-mapped (copy-on-write) and every tensor's shape is checked against the config here, once,
/// so the forward pass can index without checks. Matrices keep their stored dtype (16-bit weights
/// stay 16-bit) and are then either left as views into the mappings or copied into a huge-page arena,
/// as <see cref="WeightPlacement"/> says; norms and biases are widened to float32. Tensors may mix dtypes.
/// </summary>
public static class LlamaWeightsLoader
{
    /// <summary>Reads config.json (see <see cref="ModelConfigLoader"/>) and the weights.</summary>
    public static LlamaWeights Load(string modelDir, WeightPlacement placement = WeightPlacement.Auto) =>
        Load(modelDir, ModelConfigLoader.Load(modelDir), placement);

    public static LlamaWeights Load(string modelDir, ModelConfig config, WeightPlacement placement = WeightPlacement.Auto)
    {
        var store = TensorStore.Open(modelDir);
        LlamaWeights mapped;
        try
        {
            mapped = Build(store, config);
        }
        catch
        {
            store.Dispose();
            throw;
        }
        if (ResidentWeights.Resolve(placement, mapped.MatrixBytes, ResidentWeights.AvailableMemoryBytes()) != WeightPlacement.Resident)
            return mapped;
        using (mapped) return ResidentWeights.Pack(mapped);
    }

    private static LlamaWeights Build(TensorStore store, ModelConfig c)
    {
        int qOut = c.NumHeads * c.HeadDim;
        int kvOut = c.NumKvHeads * c.HeadDim;

        var embedding = Matrix(store, "model.embed_tokens.weight", c.VocabSize, c.HiddenSize);
        var layers = new LlamaLayerWeights[c.NumLayers];
        for (int i = 0; i < c.NumLayers; i++)
        {
            string p = $"model.layers.{i}.";
            layers[i] = new LlamaLayerWeights
            {
                InputNorm = Vector(store, p + "input_layernorm.weight", c.HiddenSize),
                PostAttentionNorm = Vector(store, p + "post_attention_layernorm.weight", c.HiddenSize),
                Q = Matrix(store, p + "self_attn.q_proj.weight", qOut, c.HiddenSize),
                K = Matrix(store, p + "self_attn.k_proj.weight", kvOut, c.HiddenSize),
                V = Matrix(store, p + "self_attn.v_proj.weight", kvOut, c.HiddenSize),
                O = Matrix(store, p + "self_attn.o_proj.weight", c.HiddenSize, qOut),
                Gate = Matrix(store, p + "mlp.gate_proj.weight", c.IntermediateSize, c.HiddenSize),
                Up = Matrix(store, p + "mlp.up_proj.weight", c.IntermediateSize, c.HiddenSize),
                Down = Matrix(store, p + "mlp.down_proj.weight", c.HiddenSize, c.IntermediateSize),
                // A bias the config does not enable is ignored, as transformers ignores unused weights.
                QBias = c.QkvBias ? Vector(store, p + "self_attn.q_proj.bias", qOut) : null,
                KBias = c.QkvBias ? Vector(store, p + "self_attn.k_proj.bias", kvOut) : null,
                VBias = c.QkvBias ? Vector(store, p + "self_attn.v_proj.bias", kvOut) : null,
                OBias = c.OutputBias ? Vector(store, p + "self_attn.o_proj.bias", c.HiddenSize) : null,
                GateBias = c.MlpBias ? Vector(store, p + "mlp.gate_proj.bias", c.IntermediateSize) : null,
                UpBias = c.MlpBias ? Vector(store, p + "mlp.up_proj.bias", c.IntermediateSize) : null,
                DownBias = c.MlpBias ? Vector(store, p + "mlp.down_proj.bias", c.HiddenSize) : null,
            };
        }
        var finalNorm = Vector(store, "model.norm.weight", c.HiddenSize);

        // Tied checkpoints (SmolLM2, Llama 3.2 1B) usually omit lm_head.weight; when tied, transformers
        // uses the embedding even if a copy was saved.
        var lmHead = c.TieWordEmbeddings || !store.Contains("lm_head.weight")
            ? embedding
            : Matrix(store, "lm_head.weight", c.VocabSize, c.HiddenSize);

        return new LlamaWeights
        {
            Config = c,
            Embedding = embedding,
            Layers = layers,
            FinalNorm = finalNorm,
            LmHead = lmHead,
            Owners = [.. store.Files],
        };
    }

    private static WeightMatrix Matrix(TensorStore store, string name, int rows, int cols)
    {
        var file = FileHolding(store, name);
        var info = file.GetInfo(name);
        if (info.Shape.Length != 2 || info.Shape[0] != rows || info.Shape[1] != cols)
            throw ShapeMismatch(file, info, [rows, cols]);
        return file.GetMatrix(name);
    }

    private static float[] Vector(TensorStore store, string name, int length)
    {
        var file = FileHolding(store, name);
        var info = file.GetInfo(name);
        if (info.Shape.Length != 1 || info.Shape[0] != length)
            throw ShapeMismatch(file, info, [length]);
        return file.ReadVector(name);
    }

    private static SafetensorsFile FileHolding(TensorStore store, string name) =>
        store.Contains(name)
            ? store.FileOf(name)
            : throw new ModelFormatException(store.Directory, $"tensor '{name}' not found in any safetensors file (files: {string.Join(", ", store.Files.Select(f => Path.GetFileName(f.Path)))})");

    private static ModelFormatException ShapeMismatch(SafetensorsFile file, SafetensorsTensorInfo info, long[] expected) =>
        new(file.Path, $"tensor '{info.Name}' has shape {info.ShapeText}, expected {SafetensorsTensorInfo.FormatShape(expected)}");
}
