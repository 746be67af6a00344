using Vae.Gpu.Devices;
using Vae.Gpu.Layers;
using Vae.Gpu.Tensors;

namespace Vae.Gpu.Model;

/// <summary>
/// The problem set's Encoder: Conv2d(1, c1, k) + ReLU, Conv2d(c1, c2, k) + ReLU, flatten, and two linear
/// heads: mean gives mu, std gives log sigma, and sigma = exp(log sigma). The heads keep their names
/// (encoder.mean, encoder.std) but run as one GEMM of 2 x lat outputs, forward and backward.
/// </summary>
public sealed class Encoder : IDisposable
{
    readonly ComputeDevice _device;
    readonly ParameterStore? _ownStore;
    static readonly string[] HeadNames = { "encoder.mean", "encoder.std" };
    readonly ParameterStore _store;
    readonly Workspace _headsGrad, _mu, _sigma, _featureGrad;

    public VaeConfig Config { get; }
    public Conv2d Conv1 { get; }
    public Conv2d Conv2 { get; }
    /// <summary>The mean and std heads as one layer: output columns 0..lat-1 are mu, lat..2 lat-1 log sigma.</summary>
    public Linear Heads { get; }
    public (Parameter Weight, Parameter Bias) Mean => (_store["encoder.mean.weight"], _store["encoder.mean.bias"]);
    public (Parameter Weight, Parameter Bias) Std => (_store["encoder.std.weight"], _store["encoder.std.bias"]);
    public Tensor? Mu { get; private set; }
    public Tensor? Sigma { get; private set; }

    public static IEnumerable<(string, int[])> Specs(VaeConfig c) =>
        Conv2d.Specs("encoder.conv1", 1, c.C1, c.Kernel)
            .Concat(Conv2d.Specs("encoder.conv2", c.C1, c.C2, c.Kernel))
            .Concat(Linear.Specs(HeadNames, c.Features, c.Latent));

    /// <summary>A standalone encoder with its own parameters, initialized as PyTorch does.</summary>
    public Encoder(ComputeDevice device, int c1, int c2, int lat, int k, int seed = 0)
        : this(new ParameterStore(device, Specs(new VaeConfig(c1, c2, lat, k).Validate())), new VaeConfig(c1, c2, lat, k), owns: true)
    {
        Initializer.PyTorchDefault(_ownStore!, seed);
    }

    internal Encoder(ParameterStore store, VaeConfig config, bool owns = false)
    {
        _device = store.Device;
        _store = store;
        _ownStore = owns ? store : null;
        Config = config;
        Conv1 = new Conv2d(store, "encoder.conv1", 1, config.C1, config.Kernel, Activation.Relu);
        Conv2 = new Conv2d(store, "encoder.conv2", config.C1, config.C2, config.Kernel, Activation.Relu);
        Heads = new Linear(store, HeadNames, config.Features, config.Latent, Activation.None);
        _headsGrad = new(_device); _mu = new(_device); _sigma = new(_device); _featureGrad = new(_device);
    }

    /// <summary>x (B, 1, 28, 28) -> (mu, sigma), each (B, lat).</summary>
    public (Tensor Mu, Tensor Sigma) Forward(Tensor x) => Forward(x, null);

    /// <summary>Forward, and with <paramref name="sample"/> the reparameterization trick in the same launch as the split.</summary>
    internal (Tensor Mu, Tensor Sigma) Forward(Tensor x, (ulong Seed, ulong Step, Tensor Eps, Tensor Z)? sample)
    {
        var h = Conv2.Forward(Conv1.Forward(x));
        var heads = Heads.Forward(h.Reshape(h.Shape[0], Config.Features));
        Mu = _mu.Get(h.Shape[0], Config.Latent);
        Sigma = _sigma.Get(h.Shape[0], Config.Latent);
        if (sample is var (seed, step, eps, z))
            _device.Ops.SplitHeadsAndSample(heads.View, Config.Latent, seed, step, Mu.View, Sigma.View, eps.View, z.View);
        else
            _device.Ops.SplitHeads(heads.View, Config.Latent, Mu.View, Sigma.View);
        return (Mu, Sigma);
    }

    /// <summary>The workspace for the gradient of the heads' output (B, 2 lat), filled by the VAE's backward.</summary>
    internal Tensor HeadsGrad(int batch) => _headsGrad.Get(batch, 2 * Config.Latent);

    /// <summary>Backpropagates the gradient of the heads' output (mu's columns, then log sigma's) to every encoder parameter.</summary>
    public void Backward(Tensor dHeads)
    {
        int b = dHeads.Shape[0];
        var h2 = Conv2.Output!;
        Heads.BackwardParameters(dHeads);
        var dFeatures = _featureGrad.Get(b, Config.Features);
        Heads.BackwardInput(dHeads, dFeatures, accumulate: false, h2);
        var dh1 = Conv2.Backward(dFeatures.Reshape(h2.Shape), needInputGrad: true, Conv1.Output)!;
        Conv1.Backward(dh1, needInputGrad: false);
    }

    public void Dispose()
    {
        Conv1.Dispose(); Conv2.Dispose(); Heads.Dispose();
        _headsGrad.Dispose(); _mu.Dispose(); _sigma.Dispose(); _featureGrad.Dispose();
        _ownStore?.Dispose();
    }
}
