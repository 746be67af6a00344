using Vae.Gpu.Devices;
using Vae.Gpu.Layers;
using Vae.Gpu.Tensors;

namespace Vae.Gpu.Model;

/// <summary>
/// The decoder, the encoder mirrored: ReLU(Linear(lat, F)), unflatten to (B, c_N, h_N, w_N), then
/// ConvTranspose2d layers back down the channel list, ReLU after each but the last, which ends in a Sigmoid.
/// Problem set names: decoder.linear, decoder.deconv1, decoder.deconv2; notebook names: decoder.l1, decoder.convs.{j}.
/// </summary>
public sealed class Decoder : IDisposable
{
    readonly ParameterStore? _ownStore;

    public VaeConfig Config { get; }
    public Linear Linear { get; }
    /// <summary>The transposed convolutions, first (reading the features) first; the last has the Sigmoid.</summary>
    public IReadOnlyList<ConvTranspose2d> Deconvs { get; }
    /// <summary>The problem set's two transposed convolutions.</summary>
    public ConvTranspose2d Deconv1 => Deconvs[0];
    public ConvTranspose2d Deconv2 => Deconvs[1];

    public static string LinearName(VaeConfig c) => c.NotebookNames ? "decoder.l1" : "decoder.linear";
    public static string DeconvName(VaeConfig c, int j) => c.NotebookNames ? $"decoder.convs.{j}" : $"decoder.deconv{j + 1}";

    /// <summary>Transposed convolution j maps channels c_{N-j} to c_{N-j-1} (c_0 = the image's).</summary>
    static (int In, int Out) DeconvChannels(VaeConfig c, int j) => (c.AllChannels[c.Depth - j], c.AllChannels[c.Depth - j - 1]);

    public static IEnumerable<(string, int[])> Specs(VaeConfig c) =>
        Linear.Specs(LinearName(c), c.Latent, c.Features)
            .Concat(Enumerable.Range(0, c.Depth).SelectMany(j => ConvTranspose2d.Specs(DeconvName(c, j), DeconvChannels(c, j).In, DeconvChannels(c, j).Out, c.Kernel)));

    public Decoder(ComputeDevice device, int c1, int c2, int lat, int k, int seed = 0)
        : this(device, new VaeConfig(c1, c2, lat, k), seed) { }

    public Decoder(ComputeDevice device, VaeConfig config, int seed = 0)
        : this(new ParameterStore(device, Specs(config.Validate())), config, owns: true)
    {
        Initializer.PyTorchDefault(_ownStore!, seed);
    }

    internal Decoder(ParameterStore store, VaeConfig config, bool owns = false)
    {
        _ownStore = owns ? store : null;
        Config = config;
        Linear = new Linear(store, LinearName(config), config.Latent, config.Features, Activation.Relu);
        Deconvs = Enumerable.Range(0, config.Depth).Select(j => new ConvTranspose2d(store, DeconvName(config, j),
            DeconvChannels(config, j).In, DeconvChannels(config, j).Out, config.Kernel,
            j == config.Depth - 1 ? Activation.Sigmoid : Activation.Relu, inputActivation: Activation.Relu)).ToArray();
    }

    /// <summary>z (B, lat) -> images (B, C, H, W) in (0, 1).</summary>
    public Tensor Forward(Tensor z)
    {
        var h = Linear.Forward(z).Reshape(z.Shape[0], Config.FeatureChannels, Config.FeatureHeight, Config.FeatureWidth);
        foreach (var deconv in Deconvs) h = deconv.Forward(h);
        return h;
    }

    /// <summary>Takes the gradient of the last layer's pre-sigmoid output; returns dz (B, lat).</summary>
    public Tensor Backward(Tensor dLogits)
    {
        var d = dLogits;
        for (int j = Deconvs.Count - 1; j >= 0; j--) d = Deconvs[j].Backward(d)!;
        return Linear.Backward(d.Reshape(Linear.Output!.Shape))!;
    }

    public void Dispose()
    {
        Linear.Dispose();
        foreach (var deconv in Deconvs) deconv.Dispose();
        _ownStore?.Dispose();
    }
}
