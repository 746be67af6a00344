using Vae.Gpu.Devices;
using Vae.Gpu.Kernels;
using Vae.Gpu.Layers;
using Vae.Gpu.Tensors;

namespace Vae.Gpu.Model;

/// <summary>
/// The problem set's VAE, read top to bottom: encoder (to the heads) -> latent (mu, sigma, z) -> decoder -> loss.
/// <c>Forward(x)</c> stores <c>Loss</c> = RLoss + KlLoss (summed over the batch); <c>Backward()</c> runs the same
/// chain backwards and fills every gradient.
/// The loss stays on the device in <see cref="LossTotals"/>[<see cref="LossSlot"/>]; reading
/// <see cref="Loss"/> waits for the accelerator, so a training loop reads the totals only now and then.
/// </summary>
public sealed class VAE : IDisposable
{
    /// <summary>Slots in the device's ring of batch losses; an epoch may have more batches (it wraps).</summary>
    public const int DefaultLossCapacity = 4096;

    readonly ComputeDevice _device;
    readonly Workspace _dLogits;
    readonly Tensor _bcePartials, _none, _scalar;
    Tensor? _x, _y;

    public VaeConfig Config { get; }
    public ParameterStore Parameters { get; }
    public Encoder Encoder { get; }
    public Latent Latent => Encoder.Latent;
    public Decoder Decoder { get; }
    public ComputeDevice Device => _device;

    /// <summary>Key of the counter-based noise; with <see cref="NoiseStep"/> it fixes every eps.</summary>
    public ulong NoiseSeed { get; set; }
    /// <summary>Advanced by each Forward, so every batch draws fresh noise.</summary>
    public ulong NoiseStep { get; set; }

    /// <summary>Per-batch losses written by Forward, read by the trainer in blocks.</summary>
    public Tensor LossTotals { get; }
    public int LossSlot { get; set; }
    public int LossCapacity => LossTotals.Length;

    public VAE(ComputeDevice device, int c1, int c2, int lat, int k, int seed = 0)
        : this(device, new VaeConfig(c1, c2, lat, k), seed) { }

    public VAE(ComputeDevice device, VaeConfig config, int seed = 0) : this(device, config, seed, DefaultLossCapacity) { }

    /// <summary>With a ring of <paramref name="lossCapacity"/> batch losses (tests use a small one to make it wrap quickly).</summary>
    internal VAE(ComputeDevice device, VaeConfig config, int seed, int lossCapacity)
    {
        _device = device;
        Config = config.Validate();
        Parameters = new ParameterStore(device, Encoder.Specs(config).Concat(Decoder.Specs(config)));
        Initializer.PyTorchDefault(Parameters, seed);
        Encoder = new Encoder(Parameters, config);
        Decoder = new Decoder(Parameters, config);
        NoiseSeed = (ulong)seed;
        _dLogits = new(device);
        _bcePartials = Tensor.Zeros(device, device.Ops.LossPartials);
        _none = Tensor.Zeros(device, 0);
        _scalar = Tensor.Zeros(device, 1);
        LossTotals = Tensor.Zeros(device, lossCapacity);
    }

    public Tensor? Mu => Latent.Mu;
    public Tensor? Sigma => Latent.Sigma;
    public Tensor? Z => Latent.Z;
    public Tensor? Eps => Latent.Eps;

    /// <summary>The batch loss of the last Forward (sum over the batch). Waits for the accelerator.</summary>
    public float Loss => LossTotals.Slice(LossSlot, 1).ToArray()[0];

    /// <summary>Summed binary cross-entropy of reconstruction y against target images x (one value, read back).</summary>
    public float RLoss(Tensor x, Tensor y)
    {
        _device.Ops.BcePartials(x.View, y.View, _bcePartials.View);
        _device.Ops.FinishLoss(_bcePartials.View, _none.View, _none.View, Config.Kl, _scalar.View, 0);
        return _scalar.ToArray()[0];
    }

    /// <summary>The KL term of <see cref="VaeConfig.Kl"/>, summed (one value, read back).</summary>
    public float KlLoss(Tensor mu, Tensor sigma)
    {
        _device.Ops.FinishLoss(_none.View, mu.View, sigma.View, Config.Kl, _scalar.View, 0);
        return _scalar.ToArray()[0];
    }

    /// <summary>The reparameterization trick: z = mu + sigma * eps, eps ~ N(0, 1) from (NoiseSeed, step).</summary>
    public Tensor Gaussian(Tensor mu, Tensor sigma, ulong? step = null) => Latent.Gaussian(mu, sigma, NoiseSeed, step ?? NoiseStep);

    /// <summary>x (B, 1, 28, 28) in [0, 1] -> reconstruction y; stores the loss at LossTotals[LossSlot].</summary>
    public Tensor Forward(Tensor x)
    {
        if (x.Length % (VaeConfig.ImageSide * VaeConfig.ImageSide) != 0 || x.Shape[0] == 0)
            throw new VaeException($"Forward expects images (B, 1, 28, 28), got {x.ShapeText}");
        var images = x.Reshape(x.Shape[0], 1, VaeConfig.ImageSide, VaeConfig.ImageSide);
        var heads = Encoder.HeadsForward(images);
        var z = Latent.Sample(heads, NoiseSeed, NoiseStep++);
        _y = Decoder.Forward(z);
        _x = images;
        var ops = _device.Ops;
        ops.BcePartials(images.View, _y.View, _bcePartials.View);
        ops.FinishLoss(_bcePartials.View, Latent.Mu!.View, Latent.Sigma!.View, Config.Kl, LossTotals.View, LossSlot);
        return _y;
    }

    /// <summary>Fills every parameter gradient of the loss of the last Forward (gradients are set, not added).</summary>
    public void Backward()
    {
        if (_x is null || _y is null) throw new InvalidOperationException("Backward before Forward");
        var ops = _device.Ops;
        var dLogits = _dLogits.Get(_y.Shape);
        ops.BceSigmoidBackward(_x.View, _y.View, dLogits.View);
        var dz = Decoder.Backward(dLogits);
        var dHeads = Latent.Backward(dz, Config.Kl);
        Encoder.Backward(dHeads);
    }

    public void Dispose()
    {
        Encoder.Dispose(); Decoder.Dispose(); Parameters.Dispose();
        _dLogits.Dispose();
        _bcePartials.Dispose(); _none.Dispose(); _scalar.Dispose(); LossTotals.Dispose();
    }
}
