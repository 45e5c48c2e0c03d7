using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using LoraServe.Core.Tensors;
using LoraServe.Models.Config;
using LoraServe.Models.Llama;
using LoraServe.Models.Weights;

namespace LoraServe.Training.Model;

/// <summary>
/// Full-parameter mode (for pretraining the demo's tiny base model only): float32 master copies of
/// every weight, pinned so <see cref="WeightMatrix"/> views can point into them and the forward
/// reads them like any loaded model, plus one gradient array per weight. Biases are not supported
/// here (the demo model has none) and are rejected by name.
/// </summary>
public sealed unsafe class FullParameters
{
    private readonly List<TrainableTensor> _tensors = [];

    public sealed class LayerGrads
    {
        public required float[] InputNorm, PostNorm;
        public required float[][] Linear; // indexed by LinearKind
    }

    public FullParameters(LlamaWeights source)
    {
        var c = source.Config;
        if (c.QkvBias || c.OutputBias || c.MlpBias) throw new NotSupportedException("full-parameter training of a model with linear biases is not supported");
        Config = c;
        var (emb, embGrad) = Copy("model.embed_tokens.weight", source.Embedding);
        EmbeddingGrad = embGrad;
        var layers = new LlamaLayerWeights[c.NumLayers];
        var grads = new LayerGrads[c.NumLayers];
        for (int l = 0; l < c.NumLayers; l++)
        {
            var s = source.Layers[l];
            string p = $"model.layers.{l}.";
            var inNorm = Vector(p + "input_layernorm.weight", s.InputNorm, out var inNormGrad);
            var postNorm = Vector(p + "post_attention_layernorm.weight", s.PostAttentionNorm, out var postNormGrad);
            var mats = new WeightMatrix[LinearKinds.All.Length];
            var linGrads = new float[LinearKinds.All.Length][];
            foreach (var kind in LinearKinds.All)
            {
                var src = kind switch
                {
                    LinearKind.Q => s.Q, LinearKind.K => s.K, LinearKind.V => s.V, LinearKind.O => s.O,
                    LinearKind.Gate => s.Gate, LinearKind.Up => s.Up, _ => s.Down,
                };
                (mats[(int)kind], linGrads[(int)kind]) = Copy(p + kind.ModulePath() + ".weight", src);
            }
            layers[l] = new LlamaLayerWeights
            {
                InputNorm = inNorm, PostAttentionNorm = postNorm,
                Q = mats[0], K = mats[1], V = mats[2], O = mats[3], Gate = mats[4], Up = mats[5], Down = mats[6],
            };
            grads[l] = new LayerGrads { InputNorm = inNormGrad, PostNorm = postNormGrad, Linear = linGrads };
        }
        var finalNorm = Vector("model.norm.weight", source.FinalNorm, out var finalGrad);
        FinalNormGrad = finalGrad;
        WeightMatrix lmHead = emb;
        LmHeadGrad = embGrad;
        if (!c.TieWordEmbeddings) (lmHead, LmHeadGrad) = Copy("lm_head.weight", source.LmHead);
        Weights = new LlamaWeights { Config = c, Embedding = emb, Layers = layers, FinalNorm = finalNorm, LmHead = lmHead };
        Layers = grads;
    }

    public ModelConfig Config { get; }

    /// <summary>The model over the float32 master copies; updated in place by the optimizer.</summary>
    public LlamaWeights Weights { get; }

    public float[] EmbeddingGrad { get; }

    /// <summary>The same array as <see cref="EmbeddingGrad"/> when embeddings are tied.</summary>
    public float[] LmHeadGrad { get; }

    public float[] FinalNormGrad { get; }
    public IReadOnlyList<LayerGrads> Layers { get; }

    /// <summary>Every weight under its HF name, in a fixed order.</summary>
    public IReadOnlyList<TrainableTensor> Tensors => _tensors;

    private (WeightMatrix, float[]) Copy(string name, WeightMatrix src)
    {
        // Pinned: the WeightMatrix keeps a raw address into the array for the life of the model.
        var values = GC.AllocateUninitializedArray<float>(src.Rows * src.Cols, pinned: true);
        for (int r = 0; r < src.Rows; r++) src.ReadRow(r, values.AsSpan(r * src.Cols, src.Cols));
        var grad = new float[values.Length];
        _tensors.Add(new TrainableTensor(name, values, grad, [src.Rows, src.Cols]));
        var view = new WeightMatrix((nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(values)), src.Rows, src.Cols, DType.F32, name);
        return (view, grad);
    }

    private float[] Vector(string name, float[] src, out float[] grad)
    {
        var values = (float[])src.Clone();
        grad = new float[values.Length];
        _tensors.Add(new TrainableTensor(name, values, grad, [values.Length]));
        return values;
    }
}
