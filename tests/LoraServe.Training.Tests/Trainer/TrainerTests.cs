using System.Text.Json.Nodes;
using LoraServe.Lora.Adapters;
using LoraServe.Lora.Execution;
using LoraServe.Models.Llama;
using LoraServe.Models.Safetensors;
using LoraServe.Testing;
using LoraServe.Training.Checkpoints;
using LoraServe.Training.Tests.Infrastructure;

namespace LoraServe.Training.Tests.Trainer;

public sealed class TrainerTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "loraserve-train-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private static readonly LoraServe.Models.Config.ModelConfig Config = InMemoryModel.TinyConfig(hidden: 32, heads: 4, kvHeads: 2, layers: 2, vocab: 97);

    private static TrainerOptions Options(int epochs = 8) => new()
    {
        Rank = 4, Alpha = 8, Targets = LinearKinds.All, LearningRate = 1e-2, Epochs = epochs, BatchSize = 4, GradAccum = 2,
        MaxSeqLen = 64, Seed = 5, WarmupRatio = 0.1,
    };

    [Fact]
    public void Loss_falls_on_a_learnable_task_and_the_exported_adapter_changes_greedy_output_as_trained()
    {
        using var m = new InMemoryModel(Config, seed: 21);
        var data = SyntheticTask.Examples(24, seed: 1, Config.VocabSize);
        using var trainer = new LoraServe.Training.Trainer(m.Weights, Options(), data);
        while (!trainer.Done) trainer.TrainStep();
        double first = trainer.History[0].Loss, last = trainer.History[^1].Loss;
        Assert.True(last < 0.1 * first, $"loss {first:F3} → {last:F3} did not fall tenfold");

        string adapterDir = Path.Combine(_dir, "adapter");
        AdapterExport.WriteAdapter(adapterDir, trainer.Lora!, "tiny-random");
        var adapter = PeftAdapterLoader.Load(adapterDir, "answer", Config);
        var model = new LlamaModel(m.Weights);
        int[] unseen = [33, 2, 17, 8];
        Assert.DoesNotContain(data, e => e.Tokens.Take(4).SequenceEqual(unseen));
        Assert.NotEqual(SyntheticTask.Answer, SyntheticTask.Greedy(model, unseen, 3, null, null));
        Assert.Equal(SyntheticTask.Answer, SyntheticTask.Greedy(model, unseen, 3, new SegmentedLoraDelta(), adapter));
    }

    [Fact]
    public void Exported_adapter_uses_PEFT_names_shapes_and_config_fields()
    {
        using var m = new InMemoryModel(Config, seed: 22);
        var options = Options(1) with { Targets = [LinearKind.Q, LinearKind.V], Rank = 8, Alpha = 16, UseRsLora = true };
        using var trainer = new LoraServe.Training.Trainer(m.Weights, options, SyntheticTask.Examples(4, 2, Config.VocabSize));
        trainer.TrainStep();
        AdapterExport.WriteAdapter(_dir, trainer.Lora!, "HuggingFaceTB/SmolLM2-135M");

        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(_dir, "adapter_config.json")))!;
        Assert.Equal("LORA", (string)config["peft_type"]!);
        Assert.Equal("CAUSAL_LM", (string)config["task_type"]!);
        Assert.Equal("HuggingFaceTB/SmolLM2-135M", (string)config["base_model_name_or_path"]!);
        Assert.Equal(8, (int)config["r"]!);
        Assert.Equal(16.0, (double)config["lora_alpha"]!);
        Assert.True((bool)config["use_rslora"]!);
        Assert.Equal("none", (string)config["bias"]!);
        Assert.Equal(["q_proj", "v_proj"], config["target_modules"]!.AsArray().Select(n => (string)n!).ToArray());

        using var file = SafetensorsFile.Open(Path.Combine(_dir, "adapter_model.safetensors"));
        var expected = new Dictionary<string, long[]>();
        for (int l = 0; l < Config.NumLayers; l++)
        {
            // PEFT: base_model.model.<module path>.lora_A.weight (r, in), lora_B.weight (out, r).
            expected[$"base_model.model.model.layers.{l}.self_attn.q_proj.lora_A.weight"] = [8, 32];
            expected[$"base_model.model.model.layers.{l}.self_attn.q_proj.lora_B.weight"] = [32, 8];
            expected[$"base_model.model.model.layers.{l}.self_attn.v_proj.lora_A.weight"] = [8, 32];
            expected[$"base_model.model.model.layers.{l}.self_attn.v_proj.lora_B.weight"] = [16, 8];
        }
        Assert.Equal(expected.Keys.Order(), file.Tensors.Keys.Order());
        foreach (var (name, shape) in expected) Assert.Equal(shape, file.GetInfo(name).Shape);
        Assert.Equal(trainer.Lora!.Get(1, LinearKind.V)!.B, file.ReadFloats("base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight"));
    }

    [Fact]
    public void Resuming_from_a_checkpoint_continues_bit_for_bit()
    {
        using var m = new InMemoryModel(Config, seed: 23);
        var data = SyntheticTask.Examples(12, seed: 3, Config.VocabSize);
        var options = Options(epochs: 3);
        using var straight = new LoraServe.Training.Trainer(m.Weights, options, data);
        while (!straight.Done) straight.TrainStep();

        using var first = new LoraServe.Training.Trainer(m.Weights, options, data);
        // Stop mid-epoch (2 steps per epoch of 12 examples at 8 per step), so order and position matter.
        for (int i = 0; i < 3; i++) first.TrainStep();
        TrainerCheckpoint.Save(first, _dir);
        using var resumed = new LoraServe.Training.Trainer(m.Weights, options, data);
        TrainerCheckpoint.Restore(resumed, _dir);
        while (!resumed.Done) resumed.TrainStep();

        Assert.Equal(straight.TotalSteps, resumed.Step);
        for (int i = 0; i < straight.Parameters.Count; i++)
        {
            Assert.Equal(straight.Parameters[i].Values, resumed.Parameters[i].Values);
            Assert.Equal(straight.Optimizer.SecondMoments[i], resumed.Optimizer.SecondMoments[i]);
        }
        Assert.Equal(straight.History.Select(h => h.Loss), resumed.History.Select(h => h.Loss));
    }

    [Fact]
    public void Gradient_accumulation_gives_the_update_of_one_big_batch()
    {
        using var m = new InMemoryModel(Config, seed: 25);
        // Rows of different lengths and loss-token counts: a per-micro-batch mean would weight them differently.
        var data = SyntheticTask.Examples(8, seed: 5, Config.VocabSize);
        data[1] = Training.Data.TrainingExample.FromSegments([([3, 4], false), ([50, 60, 70, 80, 90], true)], 64, 2);
        var big = Options(1) with { BatchSize = 8, GradAccum = 1, WarmupRatio = 0 };
        using var one = new LoraServe.Training.Trainer(m.Weights, big, data);
        using var accumulated = new LoraServe.Training.Trainer(m.Weights, big with { BatchSize = 2, GradAccum = 4 }, data);
        var a = one.TrainStep();
        var b = accumulated.TrainStep();
        Assert.Equal(a.Loss, b.Loss, 5);
        Assert.Equal(a.GradNorm, b.GradNorm, 5);
        for (int i = 0; i < one.Parameters.Count; i++)
            TensorAssert.Close(one.Parameters[i].Values, accumulated.Parameters[i].Values, 1e-5, one.Parameters[i].Name);
    }

    [Fact]
    public void Resume_with_different_options_is_refused()
    {
        using var m = new InMemoryModel(Config, seed: 24);
        var data = SyntheticTask.Examples(8, seed: 4, Config.VocabSize);
        using var a = new LoraServe.Training.Trainer(m.Weights, Options(2), data);
        a.TrainStep();
        TrainerCheckpoint.Save(a, _dir);
        using var b = new LoraServe.Training.Trainer(m.Weights, Options(2) with { LearningRate = 3e-3 }, data);
        var e = Assert.Throws<ArgumentException>(() => TrainerCheckpoint.Restore(b, _dir));
        Assert.Contains("options", e.Message);
    }
}
