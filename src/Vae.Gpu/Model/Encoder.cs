using Vae.Gpu.Devices;
using Vae.Gpu.Layers;
using Vae.Gpu.Tensors;

namespace Vae.Gpu.Model;

/// <summary>
/// The problem set's Encoder: Conv2d(1, c1, k) + ReLU, Conv2d(c1, c2, k) + ReLU, flatten, and two linear
/// heads: mean gives mu, std gives log sigma, and sigma = exp(log sigma).
/// </summary>
public sealed class Encoder : IDisposable
{
    readonly ComputeDevice _device;
    readonly ParameterStore? _ownStore;
    readonly Workspace _logSigmaGrad, _muGrad, _sigma, _featureGrad;

    public VaeConfig Config { get; }
    public Conv2d Conv1 { get; }
    public Conv2d Conv2 { get; }
    public Linear Mean { get; }
    public Linear Std { get; }
    public Tensor? Mu { get; private set; }
    public Tensor? Sigma { get; private set; }

    public static IEnumerable<(string, int[])> Specs(VaeConfig c) =>
        Conv2d.Specs("encoder.conv1", 1, c.C1, c.Kernel)
            .Concat(Conv2d.Specs("encoder.conv2", c.C1, c.C2, c.Kernel))
            .Concat(Linear.Specs("encoder.mean", c.Features, c.Latent))
            .Concat(Linear.Specs("encoder.std", c.Features, c.Latent));

    /// <summary>A standalone encoder with its own parameters, initialized as PyTorch does.</summary>
    public Encoder(ComputeDevice device, int c1, int c2, int lat, int k, int seed = 0)
        : this(new ParameterStore(device, Specs(new VaeConfig(c1, c2, lat, k).Validate())), new VaeConfig(c1, c2, lat, k), owns: true)
    {
        Initializer.PyTorchDefault(_ownStore!, seed);
    }

    internal Encoder(ParameterStore store, VaeConfig config, bool owns = false)
    {
        _device = store.Device;
        _ownStore = owns ? store : null;
        Config = config;
        Conv1 = new Conv2d(store, "encoder.conv1", 1, config.C1, config.Kernel, Activation.Relu);
        Conv2 = new Conv2d(store, "encoder.conv2", config.C1, config.C2, config.Kernel, Activation.Relu);
        Mean = new Linear(store, "encoder.mean", config.Features, config.Latent, Activation.None);
        Std = new Linear(store, "encoder.std", config.Features, config.Latent, Activation.None);
        _logSigmaGrad = new(_device); _muGrad = new(_device); _sigma = new(_device); _featureGrad = new(_device);
    }

    /// <summary>x (B, 1, 28, 28) -> (mu, sigma), each (B, lat).</summary>
    public (Tensor Mu, Tensor Sigma) Forward(Tensor x)
    {
        var h = Conv2.Forward(Conv1.Forward(x));
        var flat = h.Reshape(h.Shape[0], Config.Features);
        Mu = Mean.Forward(flat);
        var logSigma = Std.Forward(flat);
        Sigma = _sigma.Get(logSigma.Shape);
        _device.Ops.Exp(logSigma.View, Sigma.View);
        return (Mu, Sigma);
    }

    /// <summary>Workspaces for the gradients of mu and of log sigma, filled by the VAE's backward.</summary>
    internal (Tensor DMu, Tensor DLogSigma) HeadGrads(int batch) => (_muGrad.Get(batch, Config.Latent), _logSigmaGrad.Get(batch, Config.Latent));

    /// <summary>Backpropagates the gradients of mu and log sigma to every encoder parameter.</summary>
    public void Backward(Tensor dMu, Tensor dLogSigma)
    {
        int b = dMu.Shape[0];
        var h2 = Conv2.Output!;
        Mean.BackwardParameters(dMu);
        Std.BackwardParameters(dLogSigma);
        var dFeatures = _featureGrad.Get(b, Config.Features);
        Mean.BackwardInput(dMu, dFeatures, accumulate: false, null);
        Std.BackwardInput(dLogSigma, dFeatures, accumulate: true, h2);
        var dh1 = Conv2.Backward(dFeatures.Reshape(h2.Shape), needInputGrad: true, Conv1.Output)!;
        Conv1.Backward(dh1, needInputGrad: false);
    }

    public void Dispose()
    {
        Conv1.Dispose(); Conv2.Dispose(); Mean.Dispose(); Std.Dispose();
        _logSigmaGrad.Dispose(); _muGrad.Dispose(); _sigma.Dispose(); _featureGrad.Dispose();
        _ownStore?.Dispose();
    }
}
