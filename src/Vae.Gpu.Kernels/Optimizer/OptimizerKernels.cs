using ILGPU;

namespace Vae.Gpu.Kernels;

/// <summary>Adam's hyperparameters for one step; the bias corrections depend on the step number.</summary>
public readonly struct AdamStep
{
    public readonly float LearningRate, Beta1, Beta2, Epsilon, BiasCorrection1, BiasCorrection2;

    public AdamStep(float learningRate, float beta1, float beta2, float epsilon, long step)
    {
        LearningRate = learningRate; Beta1 = beta1; Beta2 = beta2; Epsilon = epsilon;
        BiasCorrection1 = (float)(1 - Math.Pow(beta1, step));
        BiasCorrection2 = (float)(1 - Math.Pow(beta2, step));
    }
}

public static class OptimizerKernels
{
    /// <summary>
    /// PyTorch's Adam, in place over every parameter at once:
    /// m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps).
    /// </summary>
    public static void Adam(
        Index1D index, int stride, AdamStep h, ArrayView<float> param, ArrayView<float> grad, ArrayView<float> m, ArrayView<float> v)
    {
        float stepSize = h.LearningRate / h.BiasCorrection1, rootBc2 = MathF.Sqrt(h.BiasCorrection2);
        for (int i = index; i < param.IntLength; i += stride)
        {
            float g = grad[i];
            float mi = h.Beta1 * m[i] + (1f - h.Beta1) * g;
            float vi = h.Beta2 * v[i] + (1f - h.Beta2) * g * g;
            m[i] = mi;
            v[i] = vi;
            param[i] -= stepSize * mi / (MathF.Sqrt(vi) / rootBc2 + h.Epsilon);
        }
    }
}
