using Vae.Gpu.Devices;
using Vae.Gpu.Layers;
using Vae.Gpu.Tensors;

namespace Vae.Gpu.Model;

/// <summary>
/// The problem set's Decoder: ReLU(Linear(lat, c2 d' d')), unflatten to (B, c2, d', d'),
/// ConvTranspose2d(c2, c1, k) + ReLU, ConvTranspose2d(c1, 1, k) + Sigmoid.
/// </summary>
public sealed class Decoder : IDisposable
{
    readonly ParameterStore? _ownStore;

    public VaeConfig Config { get; }
    public Linear Linear { get; }
    public ConvTranspose2d Deconv1 { get; }
    public ConvTranspose2d Deconv2 { get; }

    public static IEnumerable<(string, int[])> Specs(VaeConfig c) =>
        Linear.Specs("decoder.linear", c.Latent, c.Features)
            .Concat(ConvTranspose2d.Specs("decoder.deconv1", c.C2, c.C1, c.Kernel))
            .Concat(ConvTranspose2d.Specs("decoder.deconv2", c.C1, 1, c.Kernel));

    public Decoder(ComputeDevice device, int c1, int c2, int lat, int k, int seed = 0)
        : this(new ParameterStore(device, Specs(new VaeConfig(c1, c2, lat, k).Validate())), new VaeConfig(c1, c2, lat, k), owns: true)
    {
        Initializer.PyTorchDefault(_ownStore!, seed);
    }

    internal Decoder(ParameterStore store, VaeConfig config, bool owns = false)
    {
        _ownStore = owns ? store : null;
        Config = config;
        Linear = new Linear(store, "decoder.linear", config.Latent, config.Features, Activation.Relu);
        Deconv1 = new ConvTranspose2d(store, "decoder.deconv1", config.C2, config.C1, config.Kernel, Activation.Relu);
        Deconv2 = new ConvTranspose2d(store, "decoder.deconv2", config.C1, 1, config.Kernel, Activation.Sigmoid);
    }

    /// <summary>z (B, lat) -> images (B, 1, 28, 28) in (0, 1).</summary>
    public Tensor Forward(Tensor z)
    {
        var h = Linear.Forward(z);
        int side = Config.FeatureSide;
        return Deconv2.Forward(Deconv1.Forward(h.Reshape(z.Shape[0], Config.C2, side, side)));
    }

    /// <summary>Takes the gradient of the last pre-sigmoid output; returns dz (B, lat).</summary>
    public Tensor Backward(Tensor dLogits)
    {
        var g1 = Linear.Output!;
        var g2 = Deconv1.Output!;
        var dg2 = Deconv2.Backward(dLogits, needInputGrad: true, g2)!;
        var dg1 = Deconv1.Backward(dg2, needInputGrad: true, g1.Reshape(dg2.Shape[0], Config.C2, Config.FeatureSide, Config.FeatureSide))!;
        return Linear.Backward(dg1.Reshape(g1.Shape));
    }

    public void Dispose()
    {
        Linear.Dispose(); Deconv1.Dispose(); Deconv2.Dispose();
        _ownStore?.Dispose();
    }
}
