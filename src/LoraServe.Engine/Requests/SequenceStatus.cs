namespace LoraServe.Engine.Requests;

/// <summary>Where a sequence is in the engine: in a fairness queue, in the running batch, or done.</summary>
public enum SequenceStatus
{
    Waiting,
    Running,
    Finished,
}
