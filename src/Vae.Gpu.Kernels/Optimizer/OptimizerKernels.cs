using System.Runtime.CompilerServices;
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
    /// <paramref name="chunked"/> 1 (CPUs): each work-item updates one contiguous run of parameters, a
    /// unit-stride loop the vectorizer takes; 0 (GPUs): items index, index + stride, ... so neighbours read
    /// neighbours.
    /// </summary>
    public static void Adam(
        Index1D index, int stride, int chunked, AdamStep h, ArrayView<float> param, ArrayView<float> grad, ArrayView<float> m, ArrayView<float> v)
    {
        float stepSize = h.LearningRate / h.BiasCorrection1, rootBc2 = MathF.Sqrt(h.BiasCorrection2);
        int n = param.IntLength;
        if (chunked != 0)
        {
            int per = KernelIndex.DivUp(n, stride), end = KernelIndex.Min(n, (index + 1) * per);
            for (int i = index * per; i < end; i++) AdamUpdate(i, h, stepSize, rootBc2, param, grad, m, v);
        }
        else
        {
            for (int i = index; i < n; i += stride) AdamUpdate(i, h, stepSize, rootBc2, param, grad, m, v);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void AdamUpdate(int i, AdamStep h, float stepSize, float rootBc2,
        ArrayView<float> param, ArrayView<float> grad, ArrayView<float> m, ArrayView<float> v)
    {
        float g = grad[i];
        float mi = h.Beta1 * m[i] + (1f - h.Beta1) * g;
        float vi = h.Beta2 * v[i] + (1f - h.Beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        param[i] -= stepSize * mi / (MathF.Sqrt(vi) / rootBc2 + h.Epsilon);
    }
}
