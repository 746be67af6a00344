using Vae.Gpu.Devices;
using Vae.Gpu.Kernels;
using Vae.Gpu.Kernels.Reference;
using Vae.Gpu.Model;
using static Vae.Gpu.Tests.Numeric;

namespace Vae.Gpu.Tests.Model;

/// <summary>The problem set's standalone classes: Encoder and Decoder with their own parameters.</summary>
public class ProblemSetApiTests
{
    [SkippableFact]
    public void StandaloneEncoderAndDecoderHaveTheProblemSetShapes()
    {
        var device = TestDevices.Get(AcceleratorChoice.Cpu);
        using var encoder = new Encoder(device, c1: 3, c2: 5, lat: 4, k: 5, seed: 1);
        using var decoder = new Decoder(device, c1: 3, c2: 5, lat: 4, k: 5, seed: 1);
        Assert.Equal(5 * 20 * 20, encoder.Config.Features); // c2 (d - 2(k - 1))^2
        Assert.Equal(new[] { 4, 5 * 20 * 20 }, encoder.Mean.Weight.Shape);
        Assert.Equal(new[] { 5, 3, 5, 5 }, decoder.Deconv1.Weight.Shape); // ConvTranspose2d(c2 -> c1): (in, out, k, k)
        var rng = new Random(2);
        using var x = Vae.Gpu.Tensors.Tensor.FromArray(device, Enumerable.Range(0, 2 * 784).Select(_ => (float)rng.NextDouble()).ToArray(), 2, 1, 28, 28);
        var (mu, sigma) = encoder.Forward(x);
        Assert.Equal(new[] { 2, 4 }, mu.Shape);
        Assert.All(sigma.ToArray(), s => Assert.True(s > 0 && float.IsFinite(s)));
        var y = decoder.Forward(mu);
        Assert.Equal(new[] { 2, 1, 28, 28 }, y.Shape);
        Assert.All(y.ToArray(), v => Assert.InRange(v, 0f, 1f));
        // Each owns different parameters: PyTorch's initialization bound 1/sqrt(fan_in) holds for every weight.
        double bound = 1 / Math.Sqrt(1 * 5 * 5);
        Assert.All(encoder.Conv1.Weight.Value.ToArray(), w => Assert.InRange(Math.Abs(w), 0, bound));
    }

    [SkippableTheory, MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void RLossKlLossAndGaussianAreTheProblemSetsFormulas(AcceleratorChoice choice)
    {
        var device = TestDevices.Get(choice);
        var rng = new Random(8);
        foreach (var kl in new[] { KlKind.Seed, KlKind.Standard })
        {
            using var vae = new Vae.Gpu.Model.VAE(device, new VaeConfig(3, 4, 5, 3, kl), seed: 2);
            var x = Numeric.Representable(Numeric.Random(rng, 3 * 784, 0, 1));
            var y = Numeric.Representable(Numeric.Random(rng, 3 * 784, 0.01, 0.99));
            using var xt = Numeric.Upload(device, x, 3, 1, 28, 28);
            using var yt = Numeric.Upload(device, y, 3, 1, 28, 28);
            double bce = ReferenceOps.BinaryCrossEntropy(x, y);
            Assert.InRange(vae.RLoss(xt, yt), bce * (1 - 1e-5), bce * (1 + 1e-5));

            var mu = Numeric.Representable(Numeric.Random(rng, 15, -2, 2));
            var sigma = Numeric.Representable(Numeric.Random(rng, 15, 0.2, 2));
            using var mt = Numeric.Upload(device, mu, 3, 5);
            using var st = Numeric.Upload(device, sigma, 3, 5);
            double klRef = ReferenceOps.Kl(mu, sigma, kl);
            Assert.True(Math.Abs(vae.KlLoss(mt, st) - klRef) <= 1e-5 * Math.Abs(klRef), $"{kl}: {vae.KlLoss(mt, st)} vs {klRef}");

            var z = vae.Gaussian(mt, st, step: 7).ToArray();
            var expected = mu.Select((m, i) => m + sigma[i] * ReferenceOps.Normal(vae.NoiseSeed, 7, (uint)i)).ToArray();
            Numeric.AssertClose(z, expected, $"Gaussian ({kl})");
        }
    }
}
