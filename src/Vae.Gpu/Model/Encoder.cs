using Vae.Gpu.Devices;
using Vae.Gpu.Layers;
using Vae.Gpu.Tensors;

namespace Vae.Gpu.Model;

/// <summary>
/// The problem set's Encoder: Conv2d(1, c1, k) + ReLU, Conv2d(c1, c2, k) + ReLU, flatten, and two linear
/// heads: mean gives mu, std gives log sigma, and sigma = exp(log sigma) (the <see cref="Latent"/> layer splits
/// them). The heads keep their names (encoder.mean, encoder.std) but run as one GEMM of 2 x lat outputs,
/// forward and backward.
/// </summary>
public sealed class Encoder : IDisposable
{
    readonly ComputeDevice _device;
    readonly ParameterStore? _ownStore;
    static readonly string[] HeadNames = { "encoder.mean", "encoder.std" };
    readonly ParameterStore _store;
    readonly Workspace _featureGrad;

    public VaeConfig Config { get; }
    public Conv2d Conv1 { get; }
    public Conv2d Conv2 { get; }
    /// <summary>The mean and std heads as one layer: output columns 0..lat-1 are mu, lat..2 lat-1 log sigma.</summary>
    public Linear Heads { get; }
    public (Parameter Weight, Parameter Bias) Mean => (_store["encoder.mean.weight"], _store["encoder.mean.bias"]);
    public (Parameter Weight, Parameter Bias) Std => (_store["encoder.std.weight"], _store["encoder.std.bias"]);
    /// <summary>Splits the heads into mu and sigma (and samples z in training).</summary>
    public Latent Latent { get; }
    public Tensor? Mu => Latent.Mu;
    public Tensor? Sigma => Latent.Sigma;

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
        Latent = new Latent(_device, config.Latent);
        _featureGrad = new(_device);
    }

    /// <summary>x (B, 1, 28, 28) -> (mu, sigma), each (B, lat).</summary>
    public (Tensor Mu, Tensor Sigma) Forward(Tensor x) => Latent.Split(HeadsForward(x));

    /// <summary>x (B, 1, 28, 28) -> the heads' output (B, 2 lat): mu's columns, then log sigma's.</summary>
    public Tensor HeadsForward(Tensor x)
    {
        var h = Conv2.Forward(Conv1.Forward(x));
        return Heads.Forward(h.Reshape(h.Shape[0], Config.Features));
    }

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
        Conv1.Dispose(); Conv2.Dispose(); Heads.Dispose(); Latent.Dispose();
        _featureGrad.Dispose();
        _ownStore?.Dispose();
    }
}
