using LoraServe.Training.Model;

namespace LoraServe.Training.Optim;

/// <summary>
/// PEFT's default LoRA init (LoraLayer.reset_lora_parameters with init_lora_weights=True):
/// lora_A ← nn.init.kaiming_uniform_(a=√5), lora_B ← 0, so the adapter starts as the identity.
/// kaiming_uniform_ with a = √5 on a (r, in) weight: gain = √(2 / (1 + a²)) = √(1/3),
/// bound = gain·√(3 / fan_in) = 1/√in, i.e. U(−1/√in, 1/√in).
/// </summary>
public static class PeftInitialization
{
    public static void Initialize(LoraSet lora, TrainingRng rng)
    {
        foreach (var m in lora.Modules)
        {
            double bound = 1.0 / Math.Sqrt(m.InFeatures);
            for (int i = 0; i < m.A.Length; i++) m.A[i] = (float)((rng.NextDouble() * 2 - 1) * bound);
            Array.Clear(m.B);
        }
    }
}
