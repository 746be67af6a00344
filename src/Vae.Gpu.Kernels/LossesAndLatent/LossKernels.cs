using ILGPU;
using ILGPU.Runtime;

namespace Vae.Gpu.Kernels;

/// <summary>Which KL term the loss uses.</summary>
public enum KlKind
{
    /// <summary>The problem set's sum(mu^2 + sigma^2 - log sigma - 1/2); its minimum is at sigma = 1/sqrt(2).</summary>
    Seed = 0,
    /// <summary>The textbook KL(N(mu, sigma) || N(0, 1)) = sum(0.5 (mu^2 + sigma^2 - 1) - log sigma).</summary>
    Standard = 1,
}

/// <summary>The KL term a loss uses: its kind and its weight (beta; 1 is the plain ELBO). A struct so a kernel
/// takes both as one argument.</summary>
public readonly struct KlChoice
{
    public readonly int Kind;
    public readonly float Weight;

    public KlChoice(KlKind kind, float weight = 1f) { Kind = (int)kind; Weight = weight; }

    public static implicit operator KlChoice(KlKind kind) => new(kind);
}

/// <summary>
/// The VAE's loss and latent sampling. Losses are summed over the batch as the problem set does: the BCE's
/// partial kernel writes one value per thread of a fixed count, and <see cref="ReductionKernels.FinishLoss"/>
/// adds them and the KL terms.
/// </summary>
public static class LossKernels
{
    /// <summary>Guard of the logs, as the problem set's PyTorch code: log(y + 1e-9).</summary>
    public const float LogGuard = 1e-9f;

    /// <summary>partials[t] = -sum_{i = t mod P} (x log(y + g) + (1 - x) log(1 - y + g)) for target x,
    /// reconstruction y, P = partials' length, items t, t + P, ... in order (GPUs: neighbours read neighbours).</summary>
    public static void BcePartials(Index1D index, ArrayView<float> target, ArrayView<float> recon, ArrayView<float> partials)
    {
        int stride = partials.IntLength, n = target.IntLength;
        float sum = 0;
        for (int i = index; i < n; i += stride) sum -= BceTerm(target[i], recon[i]);
        partials[index] = sum;
    }

    /// <summary>
    /// <see cref="BcePartials"/> for CPUs: partial t sums one contiguous run of the items as 8 lane sums (an
    /// innermost loop of exactly 8, which vectorizes) added in a fixed order at the end, then the run's last items.
    /// </summary>
    [CpuOnly]
    public static void BceRunPartials(Index1D index, ArrayView<float> target, ArrayView<float> recon, ArrayView<float> partials)
    {
        const int lanes = LaneTiles.Width;
        var acc = LocalMemory.Allocate<float>(lanes);
        int stride = partials.IntLength, n = target.IntLength;
        int per = KernelIndex.DivUp(n, stride), start = KernelIndex.Min(n, index * per), end = KernelIndex.Min(n, start + per);
        int full = start + (end - start) / lanes * lanes;
        for (int x = 0; x < lanes; x++) acc[x] = 0f;
        for (int i = start; i < full; i += lanes)
        {
            // Views indexed by the lane alone (no 32-bit wrap check) and a log written out as arithmetic (a call
            // to log keeps the loop scalar): the 8 lanes become one vector.
            var t = target.SubView(i, lanes);
            var r = recon.SubView(i, lanes);
            for (int x = 0; x < lanes; x++) acc[x] -= LaneBceTerm(t[x], r[x]);
        }
        float sum = LaneTiles.Sum(acc, 0);
        for (int i = full; i < end; i++) sum -= LaneBceTerm(target[i], recon[i]);
        partials[index] = sum;
    }

    internal static float BceTerm(float x, float y) => x * MathF.Log(y + LogGuard) + (1f - x) * MathF.Log(1f - y + LogGuard);

    /// <summary><see cref="BceTerm"/> with <see cref="PositiveLog"/>, which vectorizes: the CPUs' form.</summary>
    static float LaneBceTerm(float x, float y) => x * PositiveLog(y + LogGuard) + (1f - x) * PositiveLog(1f - y + LogGuard);

    /// <summary>
    /// ln v for a positive normal float, as straight-line arithmetic a vectorizer can take: v = m 2^e from the
    /// bits, m moved into [sqrt(1/2), sqrt(2)), then Cephes' logf polynomial for ln(1 + f) and e ln 2 split into
    /// two parts (relative error within a few 1e-8).
    /// </summary>
    public static float PositiveLog(float v)
    {
        uint bits = Interop.FloatAsInt(v);
        float e = (int)(bits >> 23) - 126;
        float m = Interop.IntAsFloat((bits & 0x007fffffu) | 0x3f000000u);  // in [0.5, 1)
        bool low = m < 0.707106781186547524f;
        e = low ? e - 1f : e;
        float f = low ? m + m - 1f : m - 1f;
        float z = f * f;
        float y = 7.0376836292e-2f;
        y = KernelIndex.MulAdd(y, f, -1.1514610310e-1f);
        y = KernelIndex.MulAdd(y, f, 1.1676998740e-1f);
        y = KernelIndex.MulAdd(y, f, -1.2420140846e-1f);
        y = KernelIndex.MulAdd(y, f, 1.4249322787e-1f);
        y = KernelIndex.MulAdd(y, f, -1.6668057665e-1f);
        y = KernelIndex.MulAdd(y, f, 2.0000714765e-1f);
        y = KernelIndex.MulAdd(y, f, -2.4999993993e-1f);
        y = KernelIndex.MulAdd(y, f, 3.3333331174e-1f);
        y = y * f * z;
        y = KernelIndex.MulAdd(e, -2.12194440e-4f, y);
        y = KernelIndex.MulAdd(z, -0.5f, y);
        return KernelIndex.MulAdd(e, 0.693359375f, f + y);
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

    /// <summary>One (mu, sigma) pair's term of the KL of <see cref="KlKind"/>.</summary>
    internal static float KlTerm(float m, float s, int kind) => kind == (int)KlKind.Seed
        ? m * m + s * s - MathF.Log(s) - 0.5f
        : 0.5f * (m * m + s * s - 1f) - MathF.Log(s);

    /// <summary>
    /// The encoder heads' output (B, 2 lat), each row mu then log sigma, split into mu and sigma = exp(log sigma)
    /// (B, lat); with <paramref name="sample"/> != 0 also the reparameterization trick of <see cref="Gaussian"/>
    /// (the same eps for the same (seed, step, index)) in the same pass.
    /// </summary>
    public static void SplitHeads(
        Index1D index, ArrayView<float> heads, int latent, int sample, ulong seed, ulong step,
        ArrayView<float> mu, ArrayView<float> sigma, ArrayView<float> eps, ArrayView<float> z)
    {
        int row = index / latent, at = index + row * latent;
        float m = heads[at], s = MathF.Exp(heads[at + latent]);
        mu[index] = m;
        sigma[index] = s;
        if (sample != 0) Sample(index, m, s, seed, step, eps, z);
    }

    /// <summary>
    /// The reparameterization trick: eps = N(0, 1) drawn from (seed, step, i), z = mu + sigma * eps.
    /// eps is kept for the backward pass.
    /// </summary>
    public static void Gaussian(
        Index1D index, ArrayView<float> mu, ArrayView<float> sigma, ulong seed, ulong step,
        ArrayView<float> eps, ArrayView<float> z) =>
        Sample(index, mu[index], sigma[index], seed, step, eps, z);

    static void Sample(int index, float m, float s, ulong seed, ulong step, ArrayView<float> eps, ArrayView<float> z)
    {
        float e = Philox.Normal(seed, step, (uint)index);
        eps[index] = e;
        z[index] = m + s * e;
    }

    /// <summary>
    /// Backward of Gaussian, the KL term and the split (with its exp) in one pass, into the heads' layout
    /// (B, 2 lat): dMu = dz + dKL/dmu, and dLogSigma = (dz * eps + dKL/dsigma) * sigma (chain rule through
    /// sigma = exp(logSigma)).
    /// </summary>
    public static void GaussianBackward(
        Index1D index, ArrayView<float> dz, ArrayView<float> mu, ArrayView<float> sigma, ArrayView<float> eps,
        KlChoice kl, int latent, ArrayView<float> dHeads)
    {
        float m = mu[index], s = sigma[index];
        float dKlMu = (kl.Kind == (int)KlKind.Seed ? 2f * m : m) * kl.Weight;
        float dKlSigma = (kl.Kind == (int)KlKind.Seed ? 2f * s - 1f / s : s - 1f / s) * kl.Weight;
        int at = index + (index / latent) * latent;
        dHeads[at] = dz[index] + dKlMu;
        dHeads[at + latent] = (dz[index] * eps[index] + dKlSigma) * s;
    }
}
