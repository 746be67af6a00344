using ILGPU;

namespace Vae.Gpu.Kernels;

/// <summary>Which KL term the loss uses.</summary>
public enum KlKind
{
    /// <summary>The problem set's sum(mu^2 + sigma^2 - log sigma - 1/2); its minimum is at sigma = 1/sqrt(2).</summary>
    Seed = 0,
    /// <summary>The textbook KL(N(mu, sigma) || N(0, 1)) = sum(0.5 (mu^2 + sigma^2 - 1) - log sigma).</summary>
    Standard = 1,
}

/// <summary>
/// The VAE's loss and latent sampling. Losses are summed over the batch as the problem set does; each
/// partial kernel writes one value per thread of a fixed count, finished by <see cref="ReductionKernels.FinishLoss"/>.
/// </summary>
public static class LossKernels
{
    /// <summary>Guard of the logs, as the problem set's PyTorch code: log(y + 1e-9).</summary>
    public const float LogGuard = 1e-9f;

    /// <summary>partials[t] = -sum_{i = t mod P} (x log(y + g) + (1 - x) log(1 - y + g)) for target x, reconstruction y.</summary>
    public static void BcePartials(Index1D index, ArrayView<float> target, ArrayView<float> recon, ArrayView<float> partials)
    {
        int stride = partials.IntLength, n = target.IntLength;
        float sum = 0;
        for (int i = index; i < n; i += stride)
        {
            float x = target[i], y = recon[i];
            sum -= x * MathF.Log(y + LogGuard) + (1f - x) * MathF.Log(1f - y + LogGuard);
        }
        partials[index] = sum;
    }

    /// <summary>
    /// The gradient of the summed BCE with respect to the logit of the sigmoid that produced y:
    /// dL/dy * y (1 - y), with dL/dy = -(x / (y + g) - (1 - x) / (1 - y + g)). Sigmoid's backward, fused.
    /// </summary>
    public static void BceSigmoidBackward(Index1D index, int stride, ArrayView<float> target, ArrayView<float> recon, ArrayView<float> dLogit)
    {
        for (int i = index; i < target.IntLength; i += stride)
        {
            float x = target[i], y = recon[i];
            float dy = -(x / (y + LogGuard) - (1f - x) / (1f - y + LogGuard));
            dLogit[i] = dy * y * (1f - y);
        }
    }

    public static void KlPartials(Index1D index, ArrayView<float> mu, ArrayView<float> sigma, int kind, ArrayView<float> partials)
    {
        int stride = partials.IntLength, n = mu.IntLength;
        float sum = 0;
        for (int i = index; i < n; i += stride)
            sum += KlTerm(mu[i], sigma[i], kind);
        partials[index] = sum;
    }

    static float KlTerm(float m, float s, int kind) => kind == (int)KlKind.Seed
        ? m * m + s * s - MathF.Log(s) - 0.5f
        : 0.5f * (m * m + s * s - 1f) - MathF.Log(s);

    /// <summary>sigma = exp(logSigma): the std head's output turned into a deviation.</summary>
    public static void Exp(Index1D index, ArrayView<float> logSigma, ArrayView<float> sigma) =>
        sigma[index] = MathF.Exp(logSigma[index]);

    /// <summary>
    /// The reparameterization trick: eps = N(0, 1) drawn from (seed, step, i), z = mu + sigma * eps.
    /// eps is kept for the backward pass.
    /// </summary>
    public static void Gaussian(
        Index1D index, ArrayView<float> mu, ArrayView<float> sigma, ulong seed, ulong step,
        ArrayView<float> eps, ArrayView<float> z)
    {
        float e = Philox.Normal(seed, step, (uint)index.X);
        eps[index] = e;
        z[index] = mu[index] + sigma[index] * e;
    }

    /// <summary>
    /// Backward of Gaussian, the KL term and Exp in one pass: dMu = dz + dKL/dmu and
    /// dLogSigma = (dz * eps + dKL/dsigma) * sigma (chain rule through sigma = exp(logSigma)).
    /// </summary>
    public static void GaussianBackward(
        Index1D index, ArrayView<float> dz, ArrayView<float> mu, ArrayView<float> sigma, ArrayView<float> eps,
        int kind, ArrayView<float> dMu, ArrayView<float> dLogSigma)
    {
        float m = mu[index], s = sigma[index];
        float dKlMu = kind == (int)KlKind.Seed ? 2f * m : m;
        float dKlSigma = kind == (int)KlKind.Seed ? 2f * s - 1f / s : s - 1f / s;
        dMu[index] = dz[index] + dKlMu;
        dLogSigma[index] = (dz[index] * eps[index] + dKlSigma) * s;
    }
}
