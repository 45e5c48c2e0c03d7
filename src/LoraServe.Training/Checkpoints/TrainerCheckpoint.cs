using System.Text.Json;
using System.Text.Json.Nodes;
using LoraServe.Core.Tensors;
using LoraServe.Models.Safetensors;
using LoraServe.Training.Optim;

namespace LoraServe.Training.Checkpoints;

/// <summary>
/// A checkpoint directory that resumes a run bit for bit:
/// <list type="bullet">
/// <item>trainable.safetensors — every trainable tensor in float32 under its PEFT/HF name;</item>
/// <item>optimizer.safetensors — AdamW's exp_avg / exp_avg_sq per tensor (float32, exact);</item>
/// <item>trainer_state.json — step, epoch, position in the epoch, the epoch's data order, the RNG
///   state, AdamW's step count, the loss history and the options (a resume with different options
///   is refused: it would not be a continuation).</item>
/// </list>
/// Floats go through safetensors unchanged and the RNG is one 64-bit word, so nothing is rounded.
/// </summary>
public static class TrainerCheckpoint
{
    public const string TensorsFile = "trainable.safetensors";
    public const string OptimizerFile = "optimizer.safetensors";
    public const string StateFile = "trainer_state.json";

    public static void Save(Trainer trainer, string directory)
    {
        Directory.CreateDirectory(directory);
        var tensors = new SafetensorsWriter(new Dictionary<string, string> { ["format"] = "pt" });
        var moments = new SafetensorsWriter();
        for (int i = 0; i < trainer.Parameters.Count; i++)
        {
            var p = trainer.Parameters[i];
            tensors.Add(p.Name, DType.F32, p.Shape, p.Values);
            moments.Add("exp_avg." + p.Name, DType.F32, p.Shape, trainer.Optimizer.FirstMoments[i]);
            moments.Add("exp_avg_sq." + p.Name, DType.F32, p.Shape, trainer.Optimizer.SecondMoments[i]);
        }
        tensors.Save(Path.Combine(directory, TensorsFile));
        moments.Save(Path.Combine(directory, OptimizerFile));
        var history = new JsonArray();
        foreach (var h in trainer.History) history.Add(JsonSerializer.SerializeToNode(h));
        var state = new JsonObject
        {
            ["step"] = trainer.Step,
            ["epoch"] = trainer.Epoch,
            ["position"] = trainer.Position,
            ["order"] = new JsonArray([.. trainer.Order.Select(i => (JsonNode)i)]),
            ["rng_state"] = trainer.Rng.State.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["adam_step"] = trainer.Optimizer.StepCount,
            ["options"] = OptionsNode(trainer.Options),
            ["history"] = history,
        };
        File.WriteAllText(Path.Combine(directory, StateFile), state.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Restores a checkpoint into a trainer built with the same base model, data and options.</summary>
    public static void Restore(Trainer trainer, string directory)
    {
        string statePath = Path.Combine(directory, StateFile);
        if (!File.Exists(statePath)) throw new FileNotFoundException($"checkpoint '{directory}' has no {StateFile}", statePath);
        var state = JsonNode.Parse(File.ReadAllText(statePath))!.AsObject();
        string saved = state["options"]!.ToJsonString(), now = OptionsNode(trainer.Options).ToJsonString();
        if (saved != now) throw new ArgumentException($"checkpoint '{directory}' was written with options {saved}, this run has {now}");
        var order = state["order"]!.AsArray().Select(n => n!.GetValue<int>()).ToArray();
        if (order.Length != trainer.Order.Length) throw new ArgumentException($"checkpoint '{directory}' orders {order.Length} examples, the data has {trainer.Order.Length}");

        using (var file = SafetensorsFile.Open(Path.Combine(directory, TensorsFile)))
        using (var moments = SafetensorsFile.Open(Path.Combine(directory, OptimizerFile)))
        {
            for (int i = 0; i < trainer.Parameters.Count; i++)
            {
                var p = trainer.Parameters[i];
                Read(file, p.Name, p.Values);
                Read(moments, "exp_avg." + p.Name, trainer.Optimizer.FirstMoments[i]);
                Read(moments, "exp_avg_sq." + p.Name, trainer.Optimizer.SecondMoments[i]);
            }
        }
        trainer.Model.WeightsChanged();
        trainer.Step = state["step"]!.GetValue<int>();
        trainer.Epoch = state["epoch"]!.GetValue<int>();
        trainer.Position = state["position"]!.GetValue<int>();
        trainer.Order = order;
        trainer.Rng = new TrainingRng(ulong.Parse(state["rng_state"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture));
        trainer.Optimizer.StepCount = state["adam_step"]!.GetValue<long>();
        trainer.History.Clear();
        foreach (var h in state["history"]!.AsArray()) trainer.History.Add(h.Deserialize<StepResult>()!);
    }

    private static void Read(SafetensorsFile file, string name, float[] destination)
    {
        if (!file.Contains(name)) throw new ArgumentException($"checkpoint file '{file.Path}' has no tensor '{name}'");
        var values = file.ReadFloats(name);
        if (values.Length != destination.Length) throw new ArgumentException($"checkpoint tensor '{name}' has {values.Length} elements, expected {destination.Length}");
        values.CopyTo(destination, 0);
    }

    private static JsonNode OptionsNode(TrainerOptions o) => new JsonObject
    {
        ["full_parameter"] = o.FullParameter, ["rank"] = o.Rank, ["alpha"] = o.Alpha, ["use_rslora"] = o.UseRsLora,
        ["targets"] = string.Join(",", o.Targets), ["lr"] = o.LearningRate, ["epochs"] = o.Epochs, ["batch_size"] = o.BatchSize,
        ["grad_accum"] = o.GradAccum, ["max_seq_len"] = o.MaxSeqLen, ["seed"] = o.Seed.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["warmup_ratio"] = o.WarmupRatio, ["weight_decay"] = o.WeightDecay, ["max_grad_norm"] = o.MaxGradNorm,
    };
}
