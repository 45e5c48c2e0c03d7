namespace LoraServe.Training.Reporting;

/// <summary>Eval loss (nats per trained token) and perplexity exp(loss) after an epoch.</summary>
public sealed record EpochEvaluation(int Epoch, int Step, double Loss, double Perplexity);
