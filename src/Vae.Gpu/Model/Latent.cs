using Vae.Gpu.Devices;
using Vae.Gpu.Kernels;
using Vae.Gpu.Layers;
using Vae.Gpu.Tensors;

namespace Vae.Gpu.Model;

/// <summary>
/// The latent layer between the encoder's heads and the decoder, with the KL term that acts on it: it owns mu,
/// sigma = exp(log sigma), the noise eps and z = mu + sigma * eps. Forward splits the heads' (B, 2 lat) output
/// and samples z in one launch; its KL joins the reconstruction's partial sums in the batch loss; backward takes
/// dz to the heads' gradient through the sampling, the exp and the KL term, in one launch.
/// </summary>
public sealed class Latent : IDisposable
{
    readonly ComputeDevice _device;
    readonly Workspace _mu, _sigma, _eps, _z, _headsGrad;

    public Latent(ComputeDevice device, int latent, KlKind kl)
    {
        _device = device;
        Size = latent;
        Kl = kl;
        _mu = new(device); _sigma = new(device); _eps = new(device); _z = new(device); _headsGrad = new(device);
        NoPartials = Tensor.Zeros(device, 0);
    }

    public int Size { get; }
    /// <summary>An empty tensor: a loss term left out.</summary>
    internal Tensor NoPartials { get; }
    /// <summary>The KL term's kind.</summary>
    public KlKind Kl { get; }
    /// <summary>The KL term's weight in training (beta); 1 is the ELBO.</summary>
    public float KlWeight { get; set; } = 1f;
    public Tensor? Mu { get; private set; }
    public Tensor? Sigma { get; private set; }
    public Tensor? Eps { get; private set; }
    public Tensor? Z { get; private set; }

    KlChoice Weighted => new(Kl, KlWeight);

    /// <summary>heads (B, 2 lat) -> z (B, lat) with noise from (seed, step), mu and sigma kept for the loss and backward.</summary>
    public Tensor Sample(Tensor heads, ulong seed, ulong step)
    {
        int b = heads.Shape[0];
        Mu = _mu.Get(b, Size);
        Sigma = _sigma.Get(b, Size);
        Eps = _eps.Get(b, Size);
        Z = _z.Get(b, Size);
        _device.Ops.SplitHeadsAndSample(heads.View, Size, seed, step, Mu.View, Sigma.View, Eps.View, Z.View);
        return Z;
    }

    /// <summary>The reparameterization trick on given mu and sigma: z = mu + sigma * eps (the problem set's Gaussian).</summary>
    public Tensor Gaussian(Tensor mu, Tensor sigma, ulong seed, ulong step)
    {
        Eps = _eps.Get(mu.Shape);
        Z = _z.Get(mu.Shape);
        _device.Ops.Gaussian(mu.View, sigma.View, seed, step, Eps.View, Z.View);
        return Z;
    }

    /// <summary>totals[slot] = sum(<paramref name="reconstructionPartials"/>) + KlWeight x the KL of the last <see cref="Sample"/>.</summary>
    public void Loss(Tensor reconstructionPartials, Tensor totals, int slot)
    {
        if (Mu is null || Sigma is null) throw new InvalidOperationException("Loss before Sample");
        _device.Ops.FinishLoss(reconstructionPartials.View, Mu.View, Sigma.View, Weighted, totals.View, slot);
    }

    /// <summary>The unweighted KL term of (mu, sigma), summed, into totals[slot].</summary>
    public void KlOf(Tensor mu, Tensor sigma, Tensor totals, int slot) =>
        _device.Ops.FinishLoss(NoPartials.View, mu.View, sigma.View, Kl, totals.View, slot);

    /// <summary>dz (B, lat) of the last <see cref="Sample"/> -> the gradient of the heads' output (B, 2 lat), the (weighted) KL term's included.</summary>
    public Tensor Backward(Tensor dz)
    {
        if (Mu is null || Sigma is null || Eps is null) throw new InvalidOperationException("Backward before Sample");
        var dHeads = _headsGrad.Get(dz.Shape[0], 2 * Size);
        _device.Ops.GaussianBackward(dz.View, Mu.View, Sigma.View, Eps.View, Weighted, Size, dHeads.View);
        return dHeads;
    }

    public void Dispose()
    {
        _mu.Dispose(); _sigma.Dispose(); _eps.Dispose(); _z.Dispose(); _headsGrad.Dispose();
        NoPartials.Dispose();
    }
}
