using Vae.Gpu.Devices;
using Vae.Gpu.Model;
using Vae.Gpu.Optim;
using Vae.Gpu.Tensors;

namespace Vae.Gpu.Diagnostics;

/// <summary>One training step of a model on a fixed random batch, as the trainer runs it (Backward sets every
/// gradient, so no zeroing): what the benchmark times and what the kernel cases are recorded from.</summary>
public sealed class TrainingStep : IDisposable
{
    readonly Vae.Gpu.Model.VAE _vae;
    readonly Adam _adam;
    readonly Tensor _x;

    public TrainingStep(ComputeDevice device, VaeConfig config, int batch)
    {
        _vae = new Vae.Gpu.Model.VAE(device, config, seed: 1);
        _adam = new Adam(_vae.Parameters);
        var rng = new Random(1);
        _x = Tensor.FromArray(device, Enumerable.Range(0, batch * config.Pixels).Select(_ => rng.Next(256) / 255f).ToArray(),
            batch, config.ImageChannels, config.Height, config.Width);
    }

    public void Run()
    {
        _vae.Forward(_x);
        _vae.Backward();
        _adam.Step();
    }

    public void Dispose()
    {
        _x.Dispose(); _adam.Dispose(); _vae.Dispose();
    }
}
