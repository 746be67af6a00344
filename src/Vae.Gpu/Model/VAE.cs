using Vae.Gpu.Devices;
using Vae.Gpu.Kernels;
using Vae.Gpu.Layers;
using Vae.Gpu.Tensors;

namespace Vae.Gpu.Model;

/// <summary>
/// The problem set's VAE, read top to bottom: encoder (to the heads) -> latent (mu, sigma, z) -> decoder ->
/// reconstruction loss. <c>Forward(x)</c> stores <c>Loss</c> = RLoss + KlLoss (summed over the batch; the KL
/// weighted by <see cref="KlWeight"/>); <c>Backward()</c> runs the same chain backwards and fills every gradient.
/// The loss stays on the device in <see cref="LossTotals"/>[<see cref="LossSlot"/>]; reading
/// <see cref="Loss"/> waits for the accelerator, so a training loop reads the totals only now and then.
/// </summary>
public sealed partial class VAE : IDisposable
{
    /// <summary>Slots in the device's ring of batch losses; an epoch may have more batches (it wraps).</summary>
    public const int DefaultLossCapacity = 4096;

    readonly ComputeDevice _device;
    readonly Tensor _scalar;

    public VaeConfig Config { get; }
    public ParameterStore Parameters { get; }
    public Encoder Encoder { get; }
    public Latent Latent { get; }
    public Decoder Decoder { get; }
    public ReconstructionLoss Reconstruction { get; }
    public ComputeDevice Device => _device;

    /// <summary>Key of the counter-based noise; with <see cref="NoiseStep"/> it fixes every eps.</summary>
    public ulong NoiseSeed { get; set; }
    /// <summary>Advanced by each Forward, so every batch draws fresh noise.</summary>
    public ulong NoiseStep { get; set; }

    /// <summary>The KL term's weight in <see cref="Forward"/>'s loss and in <see cref="Backward"/> (beta of a
    /// beta-VAE); 1, the default, is the problem set's loss.</summary>
    public float KlWeight
    {
        get => Latent.KlWeight;
        set => Latent.KlWeight = float.IsFinite(value) && value >= 0 ? value
            : throw new VaeException($"«KlWeight» {value} must be a finite number of at least 0");
    }

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
        Latent = new Latent(device, config.Latent, config.Kl);
        Decoder = new Decoder(Parameters, config);
        Reconstruction = new ReconstructionLoss(device);
        NoiseSeed = (ulong)seed;
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
        var partials = Reconstruction.Forward(x, y);
        _device.Ops.FinishLoss(partials.View, Latent.NoPartials.View, Latent.NoPartials.View, Config.Kl, _scalar.View, 0);
        return _scalar.ToArray()[0];
    }

    /// <summary>The KL term of <see cref="VaeConfig.Kl"/>, summed and unweighted (one value, read back).</summary>
    public float KlLoss(Tensor mu, Tensor sigma)
    {
        Latent.KlOf(mu, sigma, _scalar, 0);
        return _scalar.ToArray()[0];
    }

    /// <summary>The reparameterization trick: z = mu + sigma * eps, eps ~ N(0, 1) from (NoiseSeed, step).</summary>
    public Tensor Gaussian(Tensor mu, Tensor sigma, ulong? step = null) => Latent.Gaussian(mu, sigma, NoiseSeed, step ?? NoiseStep);

    /// <summary>The images' shape this model takes: (C, H, W).</summary>
    public string ImageShapeText => $"(B, {Config.ImageChannels}, {Config.Height}, {Config.Width})";

    /// <summary>x (B, C, H, W) in [0, 1] -> reconstruction y; stores the loss at LossTotals[LossSlot].</summary>
    public Tensor Forward(Tensor x)
    {
        if (x.Shape.Length == 0 || x.Shape[0] == 0 || x.Length != (long)x.Shape[0] * Config.Pixels)
            throw new VaeException($"Forward expects images {ImageShapeText}, got {x.ShapeText}");
        var images = x.Reshape(x.Shape[0], Config.ImageChannels, Config.Height, Config.Width);
        var heads = Encoder.HeadsForward(images);
        var z = Latent.Sample(heads, NoiseSeed, NoiseStep++);
        var y = Decoder.Forward(z);
        Latent.Loss(Reconstruction.Forward(images, y), LossTotals, LossSlot);
        return y;
    }

    /// <summary>Fills every parameter gradient of the loss of the last Forward (gradients are set, not added).</summary>
    public void Backward()
    {
        var dLogits = Reconstruction.Backward();
        var dz = Decoder.Backward(dLogits);
        var dHeads = Latent.Backward(dz);
        Encoder.Backward(dHeads);
    }

    public void Dispose()
    {
        Encoder.Dispose(); Latent.Dispose(); Decoder.Dispose(); Reconstruction.Dispose(); Parameters.Dispose();
        _scalar.Dispose(); LossTotals.Dispose();
    }
}
