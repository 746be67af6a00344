using Vae.Gpu.Devices;
using Vae.Gpu.Layers;
using Vae.Gpu.Tensors;

namespace Vae.Gpu.Model;

/// <summary>
/// The encoder: N valid Conv2d + ReLU layers (the problem set's two, conv1 and conv2, or the notebook's list,
/// convs.{i}), flatten, and two linear heads: mean gives mu, std gives log sigma, and sigma = exp(log sigma).
/// The heads keep their names (encoder.mean, encoder.std) but run as one GEMM of 2 x lat outputs, forward
/// and backward.
/// </summary>
public sealed class Encoder : IDisposable
{
    readonly ComputeDevice _device;
    readonly ParameterStore? _ownStore;
    static readonly string[] HeadNames = { "encoder.mean", "encoder.std" };
    readonly ParameterStore _store;
    readonly Workspace _mu, _sigma;

    public VaeConfig Config { get; }
    /// <summary>The conv layers, first (reading the image) first.</summary>
    public IReadOnlyList<Conv2d> Convs { get; }
    /// <summary>The problem set's first and second conv layers.</summary>
    public Conv2d Conv1 => Convs[0];
    public Conv2d Conv2 => Convs[1];
    /// <summary>The mean and std heads as one layer: output columns 0..lat-1 are mu, lat..2 lat-1 log sigma.</summary>
    public Linear Heads { get; }
    public (Parameter Weight, Parameter Bias) Mean => (_store["encoder.mean.weight"], _store["encoder.mean.bias"]);
    public (Parameter Weight, Parameter Bias) Std => (_store["encoder.std.weight"], _store["encoder.std.bias"]);

    /// <summary>Conv layer i's name: encoder.conv{i+1} (problem set) or encoder.convs.{i} (notebook).</summary>
    public static string ConvName(VaeConfig c, int i) => c.NotebookNames ? $"encoder.convs.{i}" : $"encoder.conv{i + 1}";

    public static IEnumerable<(string, int[])> Specs(VaeConfig c)
    {
        var channels = c.AllChannels;
        return Enumerable.Range(0, c.Depth).SelectMany(i => Conv2d.Specs(ConvName(c, i), channels[i], channels[i + 1], c.Kernel))
            .Concat(Linear.Specs(HeadNames, c.Features, c.Latent));
    }

    /// <summary>A standalone encoder with its own parameters, initialized as PyTorch does.</summary>
    public Encoder(ComputeDevice device, int c1, int c2, int lat, int k, int seed = 0)
        : this(device, new VaeConfig(c1, c2, lat, k), seed) { }

    /// <summary>A standalone encoder of any <paramref name="config"/>, initialized as PyTorch does.</summary>
    public Encoder(ComputeDevice device, VaeConfig config, int seed = 0)
        : this(new ParameterStore(device, Specs(config.Validate())), config, owns: true)
    {
        Initializer.PyTorchDefault(_ownStore!, seed);
    }

    internal Encoder(ParameterStore store, VaeConfig config, bool owns = false)
    {
        _device = store.Device;
        _store = store;
        _ownStore = owns ? store : null;
        Config = config;
        var channels = config.AllChannels;
        Convs = Enumerable.Range(0, config.Depth).Select(i => new Conv2d(store, ConvName(config, i), channels[i], channels[i + 1], config.Kernel,
            Activation.Relu, inputActivation: i == 0 ? Activation.None : Activation.Relu)).ToArray();
        Heads = new Linear(store, HeadNames, config.Features, config.Latent, Activation.None, inputActivation: Activation.Relu);
        _mu = new(_device); _sigma = new(_device);
    }

    /// <summary>x (B, C, H, W) -> (mu, sigma), each (B, lat).</summary>
    public (Tensor Mu, Tensor Sigma) Forward(Tensor x)
    {
        var heads = HeadsForward(x);
        int b = heads.Shape[0];
        var mu = _mu.Get(b, Config.Latent);
        var sigma = _sigma.Get(b, Config.Latent);
        _device.Ops.SplitHeads(heads.View, Config.Latent, mu.View, sigma.View);
        return (mu, sigma);
    }

    /// <summary>x (B, C, H, W) -> the heads' output (B, 2 lat): mu's columns, then log sigma's.</summary>
    public Tensor HeadsForward(Tensor x)
    {
        var h = x;
        foreach (var conv in Convs) h = conv.Forward(h);
        return Heads.Forward(h.Reshape(h.Shape[0], Config.Features));
    }

    /// <summary>Backpropagates the gradient of the heads' output (mu's columns, then log sigma's) to every encoder parameter.</summary>
    public void Backward(Tensor dHeads)
    {
        var last = Convs[^1].Output!;
        var d = Heads.Backward(dHeads)!.Reshape(last.Shape);
        for (int i = Convs.Count - 1; i >= 0; i--)
            d = Convs[i].Backward(d, needInputGrad: i > 0)!;
    }

    public void Dispose()
    {
        foreach (var conv in Convs) conv.Dispose();
        Heads.Dispose();
        _mu.Dispose(); _sigma.Dispose();
        _ownStore?.Dispose();
    }
}
