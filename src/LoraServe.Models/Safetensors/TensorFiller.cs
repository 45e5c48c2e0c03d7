namespace LoraServe.Models.Safetensors;

/// <summary>
/// Fills elements [start, start + destination.Length) of a tensor's row-major float data.
/// Called with consecutive chunks, so a tensor is never materialised whole.
/// </summary>
public delegate void TensorFiller(long start, Span<float> destination);
