using Vae.Gpu.Devices;
using Vae.Gpu.Kernels;
using Vae.Gpu.Layers;
using Vae.Gpu.Tensors;

namespace Vae.Gpu.Model;

/// <summary>
/// The latent layer between the encoder's heads and the decoder: it owns mu, sigma = exp(log sigma), the noise
/// eps and z = mu + sigma * eps, and runs both directions: forward splits the heads' (B, 2 lat) output (and, in
/// training, samples z in the same launch); backward takes dz to the heads' gradient through the sampling, the
/// exp and the KL term, in one launch.
/// </summary>
public sealed class Latent : IDisposable
{
    readonly ComputeDevice _device;
    readonly Workspace _mu, _sigma, _eps, _z, _headsGrad;

    public Latent(ComputeDevice device, int latent)
    {
        _device = device;
        Size = latent;
        _mu = new(device); _sigma = new(device); _eps = new(device); _z = new(device); _headsGrad = new(device);
    }

    public int Size { get; }
    public Tensor? Mu { get; private set; }
    public Tensor? Sigma { get; private set; }
    public Tensor? Eps { get; private set; }
    public Tensor? Z { get; private set; }

    /// <summary>heads (B, 2 lat) -> (mu, sigma), each (B, lat).</summary>
    public (Tensor Mu, Tensor Sigma) Split(Tensor heads)
    {
        Allocate(heads.Shape[0]);
        _device.Ops.SplitHeads(heads.View, Size, Mu!.View, Sigma!.View);
        return (Mu, Sigma);
    }

    /// <summary>heads (B, 2 lat) -> z (B, lat) with noise from (seed, step), mu and sigma kept for the loss and backward.</summary>
    public Tensor Sample(Tensor heads, ulong seed, ulong step)
    {
        Allocate(heads.Shape[0]);
        Eps = _eps.Get(heads.Shape[0], Size);
        Z = _z.Get(heads.Shape[0], Size);
        _device.Ops.SplitHeadsAndSample(heads.View, Size, seed, step, Mu!.View, Sigma!.View, Eps.View, Z.View);
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

    /// <summary>dz (B, lat) of the last <see cref="Sample"/> -> the gradient of the heads' output (B, 2 lat), the KL term's included.</summary>
    public Tensor Backward(Tensor dz, KlKind kl)
    {
        if (Mu is null || Sigma is null || Eps is null) throw new InvalidOperationException("Backward before Sample");
        var dHeads = _headsGrad.Get(dz.Shape[0], 2 * Size);
        _device.Ops.GaussianBackward(dz.View, Mu.View, Sigma.View, Eps.View, kl, Size, dHeads.View);
        return dHeads;
    }

    void Allocate(int batch)
    {
        Mu = _mu.Get(batch, Size);
        Sigma = _sigma.Get(batch, Size);
    }

    public void Dispose()
    {
        _mu.Dispose(); _sigma.Dispose(); _eps.Dispose(); _z.Dispose(); _headsGrad.Dispose();
    }
}
