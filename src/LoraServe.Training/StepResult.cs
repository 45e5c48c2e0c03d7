namespace LoraServe.Training;

/// <summary>What one optimizer step did: mean loss per trained token, tokens processed, learning rate, gradient norm before clipping.</summary>
public sealed record StepResult(int Step, int Epoch, double Loss, int Tokens, int LossTokens, double LearningRate, double GradNorm, double Seconds);
