using Vae.Gpu.Devices;
using Vae.Gpu.Diagnostics;
using Vae.Gpu.Model;
using Vae.Gpu.Optim;
using Vae.Gpu.Tensors;
using static Vae.Gpu.Tests.Numeric;

namespace Vae.Gpu.Tests.Model;

/// <summary>
/// Accelerators against each other, not only each against the oracle: the same inputs, weights and seed on
/// two accelerators must give the same kernels' outputs, the same training step and the same 20 steps.
/// </summary>
public class CrossAcceleratorTests
{
    /// <summary>A whole step: float sums in another order differ by a few ulps per element.</summary>
    const double StepTolerance = 1e-4;

    /// <summary>
    /// 20 Adam steps. Losses: measured 1.6e-5 at worst (OpenCL vs CPU). Weights are compared by the L2 norm of
    /// each tensor's difference over its norm, not elementwise: Adam scales every gradient element to a step
    /// of about lr, so an element whose gradient is ~0 on one accelerator and a rounding error on the other
    /// (a ReLU input at 0) moves by lr on one only; a few such elements of the encoder heads (|w| &lt; 0.008)
    /// make the largest elementwise difference 0.13 of the largest weight while the L2 difference is 1.1e-3.
    /// </summary>
    const double LossTolerance = 1e-4, WeightL2Tolerance = 1e-2;

    [SkippableTheory, MemberData(nameof(TestDevices.Pairs), MemberType = typeof(TestDevices))]
    public void EveryKernelAgreesAcrossAccelerators(AcceleratorChoice first, AcceleratorChoice second)
    {
        var (a, b) = (TestDevices.Get(first), TestDevices.Get(second));
        int seed = Environment.TickCount & 0xffff;
        var comparisons = KernelCheck.Compare(KernelCheck.Run(a, seed), KernelCheck.Run(b, seed));
        Assert.True(comparisons.Count >= 25, $"only {comparisons.Count} kernels ran on both");
        foreach (var c in comparisons)
            Assert.True(c.Passed, $"seed {seed}: {c.Kernel} differs between {c.Accelerator} by {c.Error:F2} of its tolerance ({c.Tolerance})");
    }

    /// <summary>Fashion-MNIST-like images: a bright blob on a dark background.</summary>
    static float[] Blobs(int batch, int seed) => SyntheticData.Make("blobs", batch, seed).Pixels.Select(p => p / 255f).ToArray();

    /// <summary>||a - b|| / ||b||, in double.</summary>
    static double L2(float[] a, float[] b) =>
        Math.Sqrt(a.Zip(b).Sum(p => (double)(p.First - p.Second) * (p.First - p.Second)) / b.Sum(v => (double)v * v));

    /// <summary>The default model's shapes at a small batch, from one seed's weights.</summary>
    static Vae.Gpu.Model.VAE Model(ComputeDevice device) => new(device, new VaeConfig(16, 32, 16, 3), seed: 8);

    [SkippableTheory, MemberData(nameof(TestDevices.Pairs), MemberType = typeof(TestDevices))]
    public void OneTrainingStepAgreesAcrossAccelerators(AcceleratorChoice first, AcceleratorChoice second)
    {
        var (a, b) = (TestDevices.Get(first), TestDevices.Get(second));
        (float Loss, Dictionary<string, float[]> Grads) Step(ComputeDevice device)
        {
            using var vae = Model(device);
            using var x = Tensor.FromArray(device, Blobs(12, 1), 12, 1, 28, 28);
            vae.Forward(x);
            vae.Parameters.Grads.Poison();
            vae.Backward();
            return (vae.Loss, vae.Parameters.GradsToHost());
        }
        var (lossA, gradsA) = Step(a);
        var (lossB, gradsB) = Step(b);
        Assert.InRange(lossA, lossB * (1 - 1e-5), lossB * (1 + 1e-5));
        Assert.Equal(14, gradsA.Count);
        foreach (var (name, g) in gradsB)
            AssertClose(gradsA[name], ToDouble(g), $"{first} vs {second}: gradient of {name}", StepTolerance);
    }

    [SkippableTheory, MemberData(nameof(TestDevices.Pairs), MemberType = typeof(TestDevices))]
    public void TwentyTrainingStepsAgreeAcrossAccelerators(AcceleratorChoice first, AcceleratorChoice second)
    {
        var (a, b) = (TestDevices.Get(first), TestDevices.Get(second));
        (float[] Losses, Dictionary<string, float[]> Weights) Train(ComputeDevice device)
        {
            using var vae = Model(device);
            using var adam = new Adam(vae.Parameters);
            var losses = new float[20];
            for (int step = 0; step < losses.Length; step++)
            {
                using var x = Tensor.FromArray(device, Blobs(8, 100 + step), 8, 1, 28, 28);
                adam.ZeroGrad();
                vae.Forward(x);
                losses[step] = vae.Loss;
                vae.Backward();
                adam.Step();
            }
            return (losses, vae.Parameters.ToHost());
        }
        var (lossesA, weightsA) = Train(a);
        var (lossesB, weightsB) = Train(b);
        for (int i = 0; i < lossesA.Length; i++)
            Assert.True(Math.Abs(lossesA[i] - lossesB[i]) <= LossTolerance * Math.Abs(lossesB[i]),
                $"step {i + 1}: loss {lossesA[i]} on {first}, {lossesB[i]} on {second}");
        Assert.True(lossesA[^1] < lossesA[0], "training did not lower the loss, so the comparison proves little");
        foreach (var (name, w) in weightsB)
        {
            double error = L2(weightsA[name], w);
            Assert.True(error <= WeightL2Tolerance, $"{first} vs {second} after 20 steps: {name} differs by {error:E2} (L2, relative; tolerance {WeightL2Tolerance:E0})");
        }
    }
}
