using LoraServe.Core.Kernels;
using LoraServe.Core.Tensors;
using LoraServe.Models.Config;
using LoraServe.Models.Weights;

namespace LoraServe.Testing;

/// <summary>
/// A random Llama-family model held twice: as plain float arrays (what the reference forward
/// reads) and as <see cref="LlamaWeights"/> over native buffers in the requested dtype (what the
/// engine reads). For 16-bit dtypes the float copies are the rounded values, so both see the same
/// numbers.
/// </summary>
public sealed class InMemoryModel : IDisposable
{
    private readonly List<NativeBuffer> _buffers = [];

    public sealed class Layer
    {
        public required float[] InputNorm, PostNorm, Q, K, V, O, Gate, Up, Down;
        public float[]? QBias, KBias, VBias, OBias;
    }

    public InMemoryModel(ModelConfig config, int seed, DType dtype = DType.F32)
    {
        Config = config;
        DType = dtype;
        var rng = new Random(seed);
        int h = config.HiddenSize, qd = config.NumHeads * config.HeadDim, kvd = config.NumKvHeads * config.HeadDim, inter = config.IntermediateSize;
        Embedding = Rand(rng, config.VocabSize * h, 1.0, dtype);
        var layers = new Layer[config.NumLayers];
        var wl = new LlamaLayerWeights[config.NumLayers];
        for (int l = 0; l < config.NumLayers; l++)
        {
            var L = new Layer
            {
                InputNorm = Norm(rng, h), PostNorm = Norm(rng, h),
                Q = Rand(rng, qd * h, 1 / Math.Sqrt(h), dtype), K = Rand(rng, kvd * h, 1 / Math.Sqrt(h), dtype), V = Rand(rng, kvd * h, 1 / Math.Sqrt(h), dtype),
                O = Rand(rng, h * qd, 1 / Math.Sqrt(qd), dtype),
                Gate = Rand(rng, inter * h, 1 / Math.Sqrt(h), dtype), Up = Rand(rng, inter * h, 1 / Math.Sqrt(h), dtype),
                Down = Rand(rng, h * inter, 1 / Math.Sqrt(inter), dtype),
            };
            if (config.QkvBias) { L.QBias = Rand(rng, qd, 0.5, DType.F32); L.KBias = Rand(rng, kvd, 0.5, DType.F32); L.VBias = Rand(rng, kvd, 0.5, DType.F32); }
            if (config.OutputBias) L.OBias = Rand(rng, h, 0.5, DType.F32);
            layers[l] = L;
            wl[l] = new LlamaLayerWeights
            {
                InputNorm = L.InputNorm, PostAttentionNorm = L.PostNorm,
                Q = Matrix(L.Q, qd, h, dtype, $"layers.{l}.q"), K = Matrix(L.K, kvd, h, dtype, $"layers.{l}.k"), V = Matrix(L.V, kvd, h, dtype, $"layers.{l}.v"),
                O = Matrix(L.O, h, qd, dtype, $"layers.{l}.o"),
                Gate = Matrix(L.Gate, inter, h, dtype, $"layers.{l}.gate"), Up = Matrix(L.Up, inter, h, dtype, $"layers.{l}.up"), Down = Matrix(L.Down, h, inter, dtype, $"layers.{l}.down"),
                QBias = L.QBias, KBias = L.KBias, VBias = L.VBias, OBias = L.OBias,
            };
        }
        Layers = layers;
        FinalNorm = Norm(rng, h);
        LmHead = config.TieWordEmbeddings ? Embedding : Rand(rng, config.VocabSize * h, 1 / Math.Sqrt(h), dtype);
        var emb = Matrix(Embedding, config.VocabSize, h, dtype, "embed");
        Weights = new LlamaWeights
        {
            Config = config, Embedding = emb, Layers = wl, FinalNorm = FinalNorm,
            LmHead = config.TieWordEmbeddings ? emb : Matrix(LmHead, config.VocabSize, h, dtype, "lm_head"),
        };
    }

    /// <summary>
    /// Reads a model directory's tensors as plain float arrays (for the reference forward), holding
    /// float32 copies as <see cref="Weights"/>. Norms and biases by their HF names.
    /// </summary>
    public static InMemoryModel FromDirectory(string dir)
    {
        var config = LoraServe.Models.Config.ModelConfigLoader.Load(dir);
        using var store = LoraServe.Models.Safetensors.TensorStore.Open(dir);
        float[] T(string name) => store.ReadFloats(name);
        float[]? Opt(string name) => store.Contains(name) ? store.ReadFloats(name) : null;
        var layers = new Layer[config.NumLayers];
        for (int l = 0; l < config.NumLayers; l++)
        {
            string p = $"model.layers.{l}.";
            layers[l] = new Layer
            {
                InputNorm = T(p + "input_layernorm.weight"), PostNorm = T(p + "post_attention_layernorm.weight"),
                Q = T(p + "self_attn.q_proj.weight"), K = T(p + "self_attn.k_proj.weight"), V = T(p + "self_attn.v_proj.weight"), O = T(p + "self_attn.o_proj.weight"),
                Gate = T(p + "mlp.gate_proj.weight"), Up = T(p + "mlp.up_proj.weight"), Down = T(p + "mlp.down_proj.weight"),
                QBias = config.QkvBias ? Opt(p + "self_attn.q_proj.bias") : null, KBias = config.QkvBias ? Opt(p + "self_attn.k_proj.bias") : null,
                VBias = config.QkvBias ? Opt(p + "self_attn.v_proj.bias") : null, OBias = config.OutputBias ? Opt(p + "self_attn.o_proj.bias") : null,
            };
        }
        var embedding = T("model.embed_tokens.weight");
        var lmHead = config.TieWordEmbeddings ? embedding : T("lm_head.weight");
        return new InMemoryModel(config, embedding, layers, T("model.norm.weight"), lmHead);
    }

    private InMemoryModel(ModelConfig config, float[] embedding, Layer[] layers, float[] finalNorm, float[] lmHead)
    {
        Config = config;
        Embedding = embedding;
        Layers = layers;
        FinalNorm = finalNorm;
        LmHead = lmHead;
        int h = config.HiddenSize, qd = config.NumHeads * config.HeadDim, kvd = config.NumKvHeads * config.HeadDim, inter = config.IntermediateSize;
        var wl = layers.Select((L, l) => new LlamaLayerWeights
        {
            InputNorm = L.InputNorm, PostAttentionNorm = L.PostNorm,
            Q = Matrix(L.Q, qd, h, DType.F32, "q"), K = Matrix(L.K, kvd, h, DType.F32, "k"), V = Matrix(L.V, kvd, h, DType.F32, "v"),
            O = Matrix(L.O, h, qd, DType.F32, "o"), Gate = Matrix(L.Gate, inter, h, DType.F32, "gate"), Up = Matrix(L.Up, inter, h, DType.F32, "up"),
            Down = Matrix(L.Down, h, inter, DType.F32, "down"), QBias = L.QBias, KBias = L.KBias, VBias = L.VBias, OBias = L.OBias,
        }).ToArray();
        var emb = Matrix(embedding, config.VocabSize, h, DType.F32, "embed");
        Weights = new LlamaWeights
        {
            Config = config, Embedding = emb, Layers = wl, FinalNorm = finalNorm,
            LmHead = config.TieWordEmbeddings ? emb : Matrix(lmHead, config.VocabSize, h, DType.F32, "lm_head"),
        };
    }

    public ModelConfig Config { get; }

    /// <summary>Element type of <see cref="Weights"/>' matrices (F32 for <see cref="FromDirectory"/>).</summary>
    public DType DType { get; } = DType.F32;

    public float[] Embedding { get; }
    public Layer[] Layers { get; }
    public float[] FinalNorm { get; }
    public float[] LmHead { get; }
    public LlamaWeights Weights { get; }

    public static ModelConfig TinyConfig(ModelArchitecture arch = ModelArchitecture.Llama, bool tied = true, bool qkvBias = false,
        Llama3RopeScaling? scaling = null, int slidingWindow = 0, int hidden = 48, int heads = 6, int kvHeads = 2, int layers = 2, int vocab = 97) => new()
    {
        Architecture = arch, HiddenSize = hidden, IntermediateSize = 2 * hidden + 7, NumLayers = layers, NumHeads = heads, NumKvHeads = kvHeads,
        HeadDim = hidden / heads, VocabSize = vocab, MaxPositionEmbeddings = 4096, RopeTheta = 10000, RopeScaling = scaling,
        RmsNormEps = 1e-5f, TieWordEmbeddings = tied, QkvBias = qkvBias, SlidingWindow = slidingWindow,
    };

    private static float[] Norm(Random rng, int n)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(0.8 + 0.4 * rng.NextDouble());
        return a;
    }

    private static float[] Rand(Random rng, int n, double scale, DType dtype)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++)
        {
            float v = (float)((rng.NextDouble() * 2 - 1) * scale * Math.Sqrt(3));
            a[i] = dtype switch
            {
                DType.BF16 => BFloat16.ToSingle(BFloat16.FromSingle(v)),
                DType.F16 => (float)(Half)v,
                _ => v,
            };
        }
        return a;
    }

    private unsafe WeightMatrix Matrix(float[] data, int rows, int cols, DType dtype, string name)
    {
        var buf = new NativeBuffer((long)rows * cols * dtype.SizeInBytes());
        _buffers.Add(buf);
        for (int i = 0; i < data.Length; i++)
        {
            switch (dtype)
            {
                case DType.F32: ((float*)buf.Pointer)[i] = data[i]; break;
                case DType.F16: ((Half*)buf.Pointer)[i] = (Half)data[i]; break;
                case DType.BF16: ((ushort*)buf.Pointer)[i] = BFloat16.FromSingle(data[i]); break;
            }
        }
        return new WeightMatrix(buf.Pointer, rows, cols, dtype, name);
    }

    public void Dispose()
    {
        foreach (var b in _buffers) b.Dispose();
    }
}
