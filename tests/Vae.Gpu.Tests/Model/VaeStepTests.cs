using Vae.Gpu.Devices;
using Vae.Gpu.Kernels;
using Vae.Gpu.Kernels.Reference;
using Vae.Gpu.Model;
using Vae.Gpu.Optim;
using static Vae.Gpu.Tests.Numeric;

namespace Vae.Gpu.Tests.Model;

/// <summary>A whole training step of the VAE on the device against the double-precision reference model.</summary>
public class VaeStepTests
{
    public static IEnumerable<object[]> Cases() =>
        from choice in new[] { AcceleratorChoice.Cpu, AcceleratorChoice.Cuda, AcceleratorChoice.OpenCL }
        from kl in new[] { KlKind.Seed, KlKind.Standard }
        select new object[] { choice, kl };

    static float[] Images(int batch, int seed)
    {
        var rng = new Random(seed);
        // Fashion-MNIST-like: mostly dark, some bright pixels, values on the 1/255 grid.
        return Enumerable.Range(0, batch * 784).Select(_ => rng.NextDouble() < 0.5 ? 0f : rng.Next(256) / 255f).ToArray();
    }

    [SkippableTheory, MemberData(nameof(Cases))]
    public void LossAndEveryGradientMatchTheReferenceModel(AcceleratorChoice choice, KlKind kl)
    {
        var device = TestDevices.Get(choice);
        const int batch = 5;
        var config = new VaeConfig(4, 6, 3, 3, kl);
        using var vae = new Vae.Gpu.Model.VAE(device, config, seed: 21);
        var x = Images(batch, 3);
        using var xt = Vae.Gpu.Tensors.Tensor.FromArray(device, x, batch, 1, 28, 28);
        vae.Forward(xt);
        vae.Parameters.Grads.Poison();
        vae.Backward();

        var p = vae.Parameters.ToHost().ToDictionary(kv => kv.Key, kv => ToDouble(kv.Value));
        var eps = ToDouble(vae.Eps!.ToArray());
        var expectedEps = Enumerable.Range(0, batch * 3).Select(i => ReferenceOps.Normal(vae.NoiseSeed, 0, (uint)i)).ToArray();
        AssertClose(vae.Eps!.ToArray(), expectedEps, "noise", 1e-5);
        var reference = new ReferenceVae(4, 6, 3, 3).Step(p, ToDouble(x), eps, batch, kl);

        Assert.InRange(vae.Loss, reference.Loss * (1 - 1e-5), reference.Loss * (1 + 1e-5));
        var grads = vae.Parameters.GradsToHost();
        foreach (var (name, expected) in reference.Grads)
            AssertClose(grads[name], expected, $"gradient of {name}", 1e-4);
    }

    [SkippableTheory, MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void SameSeedGivesBitIdenticalNoiseAndLosses(AcceleratorChoice choice)
    {
        var device = TestDevices.Get(choice);
        (float[] Losses, float[] Noise, float[] Params) Run()
        {
            using var vae = new Vae.Gpu.Model.VAE(device, new VaeConfig(4, 8, 4, 3), seed: 5);
            using var adam = new Adam(vae.Parameters);
            var losses = new List<float>();
            float[] noise = Array.Empty<float>();
            for (int step = 0; step < 3; step++)
            {
                using var xt = Vae.Gpu.Tensors.Tensor.FromArray(device, Images(16, step), 16, 1, 28, 28);
                adam.ZeroGrad();
                vae.Forward(xt);
                losses.Add(vae.Loss);
                vae.Backward();
                adam.Step();
                noise = vae.Eps!.ToArray();
            }
            return (losses.ToArray(), noise, vae.Parameters.Values.ToArray());
        }

        var first = Run();
        var second = Run();
        Assert.True(first.Losses.SequenceEqual(second.Losses), "Nondeterminism! losses differ between two runs with one seed");
        Assert.True(first.Noise.SequenceEqual(second.Noise), "Nondeterminism! noise differs");
        Assert.True(first.Params.SequenceEqual(second.Params), "Nondeterminism! parameters differ after three Adam steps");
        Assert.True(first.Losses[2] < first.Losses[0] || first.Losses.Distinct().Count() == 3, "the steps changed nothing");
    }
}

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
