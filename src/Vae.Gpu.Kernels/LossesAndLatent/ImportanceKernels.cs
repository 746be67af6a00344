using ILGPU;
using ILGPU.Runtime;

namespace Vae.Gpu.Kernels;

/// <summary>
/// Where one decode chunk of the importance-weighted bound lies. Pairs (image i, sample s) are numbered
/// i * Samples + s over the whole evaluation; a chunk decodes rows FirstPair.. and a group of images keeps the
/// log weights of its pairs from GroupFirstPair on.
/// </summary>
public struct ImportanceBatch
{
    public int Latent, Samples, FirstPair, GroupFirstPair, Pixels;
    /// <summary>The prior's variance per dimension: 1/2 for the problem set's KL (N(0, I/2)), 1 for the textbook one.</summary>
    public float PriorVariance;

    public ImportanceBatch(int latent, int samples, int firstPair, int groupFirstPair, int pixels, float priorVariance)
    {
        Latent = latent; Samples = samples; FirstPair = firstPair; GroupFirstPair = groupFirstPair; Pixels = pixels; PriorVariance = priorVariance;
    }
}

/// <summary>
/// The importance-weighted bound of Burda et al. (2015): log p(x) >= log (1/k) sum_s p(x|z_s) p(z_s) / q(z_s|x),
/// z_s ~ q(z|x) = N(mu, sigma^2). The decoder runs between <see cref="SampleImportance"/> and
/// <see cref="ImportanceLogWeights"/>; <see cref="LogMeanExp"/> ends each image.
/// </summary>
public static class ImportanceKernels
{
    /// <summary>
    /// z (rows, lat) of a chunk: row r is pair p = FirstPair + r, image p / Samples, sample s = p mod Samples;
    /// eps is <see cref="Philox"/>'s normal at (seed, step s, index image * lat + d), so a pair's noise does not
    /// depend on the chunking, and sample 0 is what <see cref="LossKernels.Gaussian"/> draws at step 0 for the
    /// whole set as one batch.
    /// </summary>
    public static void SampleImportance(Index1D index, ImportanceBatch b, ArrayView<float> mu, ArrayView<float> sigma, ulong seed,
        ArrayView<float> eps, ArrayView<float> z)
    {
        int pair = b.FirstPair + index / b.Latent, d = index - index / b.Latent * b.Latent;
        int image = pair / b.Samples, at = image * b.Latent + d;
        float e = Philox.Normal(seed, (ulong)(pair - image * b.Samples), (uint)at);
        eps[index] = e;
        z[index] = mu[at] + sigma[at] * e;
    }

    /// <summary>
    /// log w of one decoded row: log p(x|z) + log p(z) - log q(z|x), where log p(x|z) is minus the summed BCE
    /// exactly as the training loss computes it (same guard), and the Gaussian terms drop their common
    /// -lat/2 log(2 pi): log p(z) - log q(z|x) = sum_d (eps^2 - z^2 / v - log v) / 2 + log sigma, v the prior's
    /// variance. The BCE of sample 0 is also kept per image (the ELBO's reconstruction term).
    /// </summary>
    public static void ImportanceLogWeights(Index1D row, ImportanceBatch b, ArrayView<float> images, ArrayView<float> recon,
        ArrayView<float> z, ArrayView<float> eps, ArrayView<float> sigma, ArrayView<float> logWeight, ArrayView<float> firstSampleBce)
    {
        int pair = b.FirstPair + row, image = pair / b.Samples;
        int x0 = image * b.Pixels, y0 = row * b.Pixels;
        float bce = 0f;
        for (int i = 0; i < b.Pixels; i++) bce -= LossKernels.BceTerm(images[x0 + i], recon[y0 + i]);
        float latentTerm = 0f, logVariance = MathF.Log(b.PriorVariance);
        for (int d = 0; d < b.Latent; d++)
        {
            float e = eps[row * b.Latent + d], zd = z[row * b.Latent + d];
            latentTerm += 0.5f * (e * e - zd * zd / b.PriorVariance - logVariance) + MathF.Log(sigma[image * b.Latent + d]);
        }
        logWeight[pair - b.GroupFirstPair] = latentTerm - bce;
        if (pair == image * b.Samples) firstSampleBce[image] = bce;
    }

    /// <summary>bound[firstImage + i] = log (1/k) sum_s exp(logWeight[i k + s]), safely: the largest term is
    /// factored out, so no exp overflows or all underflow. Sums in sample order.</summary>
    public static void LogMeanExp(Index1D index, ArrayView<float> logWeight, int samples, int firstImage, ArrayView<float> bound)
    {
        int at = index * samples;
        float max = logWeight[at];
        for (int s = 1; s < samples; s++) max = MathF.Max(max, logWeight[at + s]);
        float sum = 0f;
        for (int s = 0; s < samples; s++) sum += MathF.Exp(logWeight[at + s] - max);
        bound[firstImage + index] = max + MathF.Log(sum / samples);
    }
}
