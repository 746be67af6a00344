using Vae.Gpu.Kernels;
using Vae.Gpu.Layers;
using Vae.Gpu.Tensors;

namespace Vae.Gpu.Optim;

/// <summary>PyTorch's Adam (defaults lr 1e-3, betas 0.9/0.999, eps 1e-8) over a whole parameter store, on the device.</summary>
public sealed class Adam : IDisposable
{
    readonly ParameterStore _store;

    public float LearningRate { get; }
    public float Beta1 { get; }
    public float Beta2 { get; }
    public float Epsilon { get; }
    public long StepCount { get; set; }
    public Tensor M { get; }
    public Tensor V { get; }

    public Adam(ParameterStore store, float lr = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f)
    {
        if (!(lr > 0) || float.IsInfinity(lr)) throw new Devices.VaeException($"«LearningRate» {lr} must be a positive number");
        _store = store;
        LearningRate = lr; Beta1 = beta1; Beta2 = beta2; Epsilon = eps;
        M = Tensor.Zeros(store.Device, store.Count);
        V = Tensor.Zeros(store.Device, store.Count);
    }

    public void ZeroGrad() => _store.ZeroGrad();

    public void Step()
    {
        StepCount++;
        _store.Device.Ops.Adam(new AdamStep(LearningRate, Beta1, Beta2, Epsilon, StepCount), _store.Values.View, _store.Grads.View, M.View, V.View);
    }

    public void Dispose()
    {
        M.Dispose(); V.Dispose();
    }
}
