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
