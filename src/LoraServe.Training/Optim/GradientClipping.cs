using System.Numerics.Tensors;
using LoraServe.Training.Model;

namespace LoraServe.Training.Optim;

/// <summary>
/// Global-norm clipping as torch.nn.utils.clip_grad_norm_: the L2 norm over every gradient
/// together; when it exceeds maxNorm all gradients are scaled by maxNorm / (norm + 1e-6).
/// The norm is summed in double, tensor by tensor in a fixed order, so it is deterministic.
/// </summary>
public static class GradientClipping
{
    /// <summary>Returns the norm before clipping.</summary>
    public static double ClipGlobalNorm(IReadOnlyList<TrainableTensor> parameters, double maxNorm)
    {
        double sumSquares = 0;
        foreach (var p in parameters)
            foreach (float g in p.Grad) sumSquares += (double)g * g;
        double norm = Math.Sqrt(sumSquares);
        if (maxNorm > 0 && norm > maxNorm)
        {
            float factor = (float)(maxNorm / (norm + 1e-6));
            foreach (var p in parameters) TensorPrimitives.Multiply(p.Grad, factor, p.Grad);
        }
        return norm;
    }

    public static void Zero(IReadOnlyList<TrainableTensor> parameters)
    {
        foreach (var p in parameters) Array.Clear(p.Grad);
    }
}
