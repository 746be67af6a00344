using Vae.Gpu.Devices;
using Vae.Gpu.Kernels;
using static Vae.Gpu.Tests.Numeric;

namespace Vae.Gpu.Tests.Kernels;

/// <summary>
/// A linear layer's weight and bias gradients (<see cref="DeviceOps.LinearParameterGrads"/>) against the float64
/// oracle on every accelerator, with the device's own choice and with GEMM v9 forced, which sums the bias in the
/// weight gradient's pass (no bias-sum launch then); every other version takes the separate bias sum.
/// </summary>
public class LinearParameterGradsTests
{
    /// <summary>(out, in, batch): full 16-row tiles with fewer than 16 columns (the decoder's Linear, smaller);
    /// ragged rows and several column tiles, one ragged; one row tile shorter than 16.</summary>
    static readonly int[][] Layers = { new[] { 1152, 16, 32 }, new[] { 35, 40, 7 }, new[] { 11, 5, 3 } };

    public static IEnumerable<object[]> Cases() =>
        from d in TestDevices.All
        from forced in new[] { false, true }
        select new[] { d[0], forced };

    [SkippableTheory, MemberData(nameof(Cases))]
    public void WeightAndBiasGradientsMatchTheReference(AcceleratorChoice choice, bool forceTall)
    {
        var device = TestDevices.Get(choice);
        using var forced = forceTall ? device.Versions.Force(GemmVersion.TallTiled) : null;
        var rng = new Random(23);
        foreach (var layer in Layers)
        {
            int outF = layer[0], inF = layer[1], batch = layer[2];
            var dPre = Representable(Random(rng, batch * outF));
            var x = Representable(Random(rng, batch * inF));
            var weightGrad = new GemmShape(outF, inF, batch, 1, outF, inF, 1);
            using var dPreT = Upload(device, dPre, batch, outF);
            using var xT = Upload(device, x, batch, inF);
            using var dWeight = Poisoned(device, outF, inF);
            using var dBias = Poisoned(device, outF);
            var launches = new List<KernelLaunch>();
            device.Ops.Profiler = launches.Add;
            try { device.Ops.LinearParameterGrads(weightGrad, dPreT.View, xT.View, dWeight.View, dBias.View); }
            finally { device.Ops.Profiler = null; }

            var expectedWeight = new double[outF * inF];
            var expectedBias = new double[outF];
            for (int b = 0; b < batch; b++)
                for (int o = 0; o < outF; o++)
                {
                    double g = dPre[b * outF + o];
                    expectedBias[o] += g;
                    for (int f = 0; f < inF; f++) expectedWeight[o * inF + f] += g * x[b * inF + f];
                }
            string what = $"{outF}x{inF} at batch {batch} on {choice}{(forceTall ? " (GEMM v9 forced)" : "")}";
            AssertClose(dWeight.ToArray(), expectedWeight, $"dWeight of {what}");
            AssertClose(dBias.ToArray(), expectedBias, $"dBias of {what}");

            // Batches below 64 leave K in one slice, so version 9 always sums the bias itself.
            var product = launches.Single(l => l.Family == GemmFamily.Name);
            int biasSums = launches.Count(l => l.Kernel is "ColumnSums" or "ChannelSumPartials");
            Assert.True(product.Version == (int)GemmVersion.TallTiled ? biasSums == 0 : biasSums == 1,
                $"{what}: GEMM v{product.Version}, {biasSums} bias-sum launches ({string.Join(", ", launches.Select(l => l.Kernel))})");
            if (forceTall && !device.Versions.Limits.IsGpu)
                Assert.Equal((int)GemmVersion.TallTiled, product.Version);
        }
    }
}
