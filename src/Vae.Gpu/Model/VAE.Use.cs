using Vae.Gpu.Devices;
using Vae.Gpu.Kernels;
using Vae.Gpu.Tensors;
using Vae.Gpu.Training;

namespace Vae.Gpu.Model;

/// <summary>Using a trained model: load a run, encode images, decode latent vectors, interpolate, sample.
/// Images are planar float arrays, image after image (N, C, H, W), in [0, 1]; latent vectors (N, lat).</summary>
public sealed partial class VAE
{
    /// <summary>Images and latent vectors go through the accelerator this many at a time.</summary>
    public const int UseBatch = 500;

    /// <summary>The model of a run folder (its committed save; a PyTorch state_dict too), refusing weights that are not finite.</summary>
    public static VAE Load(string runDir, ComputeDevice device)
    {
        var (checkpoint, _) = Checkpoint.ReadForUse(runDir, "; retrain, or use an earlier checkpoint");
        return checkpoint.CreateModel(device);
    }

    /// <summary>mu and sigma (N, lat) of <paramref name="images"/> (N, C, H, W) in [0, 1].</summary>
    public (float[] Mu, float[] Sigma) Encode(float[] images)
    {
        int n = ImageCount(images, nameof(images));
        int lat = Config.Latent;
        var mu = new float[n * lat];
        var sigma = new float[n * lat];
        for (int first = 0; first < n; first += UseBatch)
        {
            int count = Math.Min(UseBatch, n - first);
            using var x = Tensor.FromArray(_device, images.AsSpan(first * Config.Pixels, count * Config.Pixels).ToArray(), count, Config.ImageChannels, Config.Height, Config.Width);
            var (m, s) = Encoder.Forward(x);
            m.ToArray().CopyTo(mu, first * lat);
            s.ToArray().CopyTo(sigma, first * lat);
        }
        Analysis.Finite.Require("mu", mu, lat);
        Analysis.Finite.Require("sigma", sigma, lat);
        return (mu, sigma);
    }

    /// <summary>The images (N, C, H, W) the decoder makes of latent vectors <paramref name="z"/> (N, lat).</summary>
    public float[] Decode(float[] z)
    {
        int lat = Config.Latent;
        if (z.Length == 0 || z.Length % lat != 0)
            throw new VaeException($"latent vectors hold {z.Length} values, not a whole number of rows of the model's {lat}; give z as (N, {lat})");
        int bad = Array.FindIndex(z, v => !float.IsFinite(v));
        if (bad >= 0) throw new VaeException($"latent vector {bad / lat}, entry {bad % lat}, is {z[bad]}; every entry must be a finite number");
        int n = z.Length / lat;
        var images = new float[(long)n * Config.Pixels];
        for (int first = 0; first < n; first += UseBatch)
        {
            int count = Math.Min(UseBatch, n - first);
            using var zt = Tensor.FromArray(_device, z.AsSpan(first * lat, count * lat).ToArray(), count, lat);
            Decoder.Forward(zt).ToArray().CopyTo(images, (long)first * Config.Pixels);
        }
        return images;
    }

    /// <summary>
    /// <paramref name="steps"/> images from <paramref name="from"/> to <paramref name="to"/> (one image each) through
    /// the latent space: the decoded points between their mu, along a straight line or, with
    /// <paramref name="spherical"/>, along the great circle (slerp), which keeps the norm of a Gaussian's samples.
    /// </summary>
    public float[] Interpolate(float[] from, float[] to, int steps, bool spherical = false)
    {
        if (steps < 2) throw new VaeException($"«Steps» {steps} must be at least 2 (the two ends)");
        if (ImageCount(from, nameof(from)) != 1 || ImageCount(to, nameof(to)) != 1)
            throw new VaeException($"interpolation takes one image at each end, {Config.ImageChannels}x{Config.Height}x{Config.Width}");
        var (a, _) = Encode(from);
        var (b, _) = Encode(to);
        int lat = Config.Latent;
        var z = new float[steps * lat];
        double dot = 0, na = 0, nb = 0;
        for (int d = 0; d < lat; d++) { dot += a[d] * b[d]; na += a[d] * a[d]; nb += b[d] * b[d]; }
        double omega = Math.Acos(Math.Clamp(dot / Math.Sqrt(na * nb), -1, 1));
        for (int s = 0; s < steps; s++)
        {
            double t = s / (double)(steps - 1);
            // Slerp degenerates to a straight line where the two points are (anti)parallel or one is 0.
            bool line = !spherical || !(Math.Sin(omega) > 1e-6);
            double wa = line ? 1 - t : Math.Sin((1 - t) * omega) / Math.Sin(omega), wb = line ? t : Math.Sin(t * omega) / Math.Sin(omega);
            for (int d = 0; d < lat; d++) z[s * lat + d] = (float)(wa * a[d] + wb * b[d]);
        }
        return Decode(z);
    }

    /// <summary><paramref name="count"/> images decoded from the prior the model was trained with: N(0, I/2) for the
    /// problem set's KL term, N(0, I) for the textbook one; the same <paramref name="seed"/> gives the same images.</summary>
    public float[] Sample(int count, int seed = 0)
    {
        if (count < 1) throw new VaeException($"«Count» {count} must be at least 1");
        var z = PriorSample(count, seed);
        return Decode(z);
    }

    /// <summary>z (count, lat) from the prior of <see cref="VaeConfig.Kl"/>.</summary>
    public float[] PriorSample(int count, int seed)
    {
        double std = Config.Kl == KlKind.Seed ? Math.Sqrt(0.5) : 1.0;
        var normal = new MathNet.Numerics.Distributions.Normal(0, std, new Random(seed));
        var z = new float[count * Config.Latent];
        for (int i = 0; i < z.Length; i++) z[i] = (float)normal.Sample();
        return z;
    }

    int ImageCount(float[] images, string name)
    {
        int pixels = Config.Pixels;
        if (images.Length == 0 || images.Length % pixels != 0)
            throw new VaeException($"{name} hold {images.Length} values, not a whole number of the model's {Config.ImageChannels}x{Config.Height}x{Config.Width} images");
        return images.Length / pixels;
    }
}
