namespace LoraServe.Training.Model;

/// <summary>
/// One tensor the optimizer updates: its values, its gradient (same length) and its shape, under
/// the name it is saved with (PEFT or HF naming). The optimizer, clipping and checkpoints see only
/// these, so LoRA and full-parameter training share them.
/// </summary>
public sealed record TrainableTensor(string Name, float[] Values, float[] Grad, long[] Shape);
