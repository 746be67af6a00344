using ILGPU.Runtime;
using Vae.Gpu.Devices;
using Vae.Gpu.Kernels;
using Vae.Gpu.Kernels.Reference;
using Vae.Gpu.Tensors;
using static Vae.Gpu.Tests.Numeric;

namespace Vae.Gpu.Tests.Kernels;

/// <summary>Loss terms, the latent sampling, Adam and the batch gather against the oracle.</summary>
public class LossAndLatentTests
{
    /// <summary>Every accelerator, with its own loop form and with a GPU's strided loops (<see cref="DeviceOps.UseStridedLoops"/>).</summary>
    public static IEnumerable<object[]> AllLoopForms => TestDevices.All.SelectMany(d => new[] { new[] { d[0], false }, new[] { d[0], true } });

    /// <summary>FinishLoss of BCE partials and KL pairs, read from slot 1 of three poisoned ones.</summary>
    static float Sum(ComputeDevice device, Tensor partials, Tensor mu, Tensor sigma, KlKind kind = KlKind.Seed)
    {
        using var totals = Poisoned(device, 3);
        device.Ops.FinishLoss(partials.View, mu.View, sigma.View, kind, totals.View, 1);
        return totals.ToArray()[1];
    }

    /// <summary>The CPUs' BCE takes its logs from <see cref="LossKernels.PositiveLog"/>: over the BCE's whole range
    /// (from the guard 1e-9 to 1 + 1e-9, log-uniform and uniform), within 1.5e-7 of ln v, absolute below 1 and
    /// relative above.</summary>
    [Fact]
    public void ThePolynomialLogAgreesWithTheLibraryLog()
    {
        var rng = new Random(5);
        double worst = 0;
        for (int j = 0; j < 200_000; j++)
        {
            float v = j % 2 == 0 ? (float)Math.Exp(rng.NextDouble() * Math.Log(1e-9)) : (float)(rng.NextDouble() + 1e-9);
            double exact = Math.Log(v);
            worst = Math.Max(worst, Math.Abs(LossKernels.PositiveLog(v) - exact) / Math.Max(1, Math.Abs(exact)));
        }
        foreach (float v in new[] { LossKernels.LogGuard, 1f, 1f + LossKernels.LogGuard, 0.70710677f, 0.7071068f, 0.5f, 2f })
            worst = Math.Max(worst, Math.Abs(LossKernels.PositiveLog(v) - Math.Log(v)) / Math.Max(1, Math.Abs(Math.Log(v))));
        Assert.True(worst < 1.5e-7, $"worst error {worst:E2}");
        Assert.True(worst > 0, "the polynomial is an approximation; an error of exactly 0 means the library log ran instead");
    }

    [SkippableTheory, MemberData(nameof(AllLoopForms))]
    public void BinaryCrossEntropyAndItsSigmoidGradientMatchReference(AcceleratorChoice choice, bool strided)
    {
        var device = TestDevices.Get(choice);
        using var loops = strided ? device.Ops.UseStridedLoops() : null;
        var rng = new Random(11);
        int n = 3 * 784 + 5;
        var x = Representable(Random(rng, n, 0, 1));
        var y = Representable(Random(rng, n, 0.001, 0.999));
        using var xt = Upload(device, x, n);
        using var yt = Upload(device, y, n);
        using var partials = Poisoned(device, device.Ops.LossPartials);
        using var none = Tensor.Zeros(device, 0);
        device.Ops.BcePartials(xt.View, yt.View, partials.View);
        double expected = ReferenceOps.BinaryCrossEntropy(x, y);
        Assert.InRange(Sum(device, partials, none, none), expected * (1 - 1e-5), expected * (1 + 1e-5));

        using var dLogit = Poisoned(device, n);
        device.Ops.BceSigmoidBackward(xt.View, yt.View, dLogit.View);
        AssertClose(dLogit.ToArray(), ReferenceOps.SigmoidBackward(y, ReferenceOps.BinaryCrossEntropyGrad(x, y)), "bce+sigmoid backward");
    }

    /// <summary>A GPU's partial count (one wave of an H200) is summed in two levels: fold, then the 16 lanes.</summary>
    [SkippableTheory, MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void ManyLossPartialsAreSummedInTwoLevels(AcceleratorChoice choice)
    {
        var device = TestDevices.Get(choice);
        var rng = new Random(14);
        int n = 132 * 2048 + 17;
        Assert.True(n > ReductionKernels.FoldAbove);
        var partials = Representable(Random(rng, n, 0, 2));
        using var pt = Upload(device, partials, n);
        using var none = Tensor.Zeros(device, 0);
        double expected = partials.Sum();
        Assert.InRange(Sum(device, pt, none, none), expected * (1 - 1e-5), expected * (1 + 1e-5));
    }

    [SkippableTheory, MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void KlTermsMatchReference(AcceleratorChoice choice)
    {
        var device = TestDevices.Get(choice);
        var rng = new Random(12);
        int n = 37 * 16;
        var mu = Representable(Random(rng, n, -2, 2));
        var sigma = Representable(Random(rng, n, 0.2, 3));
        using var mt = Upload(device, mu, n);
        using var st = Upload(device, sigma, n);
        using var none = Tensor.Zeros(device, 0);
        foreach (var kind in new[] { KlKind.Seed, KlKind.Standard })
        {
            double expected = ReferenceOps.Kl(mu, sigma, kind);
            Assert.InRange(Sum(device, none, mt, st, kind), expected - 1e-5 * Math.Abs(expected), expected + 1e-5 * Math.Abs(expected));
        }
    }

    [SkippableTheory, MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void SplitHeadsGaussianAndTheirBackwardMatchReference(AcceleratorChoice choice)
    {
        var device = TestDevices.Get(choice);
        var rng = new Random(13);
        const int latent = 5;
        int n = 29 * latent;
        var mu = Representable(Random(rng, n, -2, 2));
        var logSigma = Representable(Random(rng, n, -1.5, 1));
        using var heads = Upload(device, ReferenceOps.HeadsLayout(mu, logSigma, latent), 2 * n);
        using var mt = Poisoned(device, n);
        using var sigma = Poisoned(device, n);
        using var eps = Poisoned(device, n);
        using var z = Poisoned(device, n);
        device.Ops.SplitHeads(heads.View, latent, mt.View, sigma.View);
        AssertClose(mt.ToArray(), mu, "split heads: mu");
        AssertClose(sigma.ToArray(), ReferenceOps.Exp(logSigma), "split heads: sigma = exp(log sigma)");

        const ulong seed = 0x1234_5678_9abc, step = 77;
        device.Ops.Gaussian(mt.View, sigma.View, seed, step, eps.View, z.View);
        var rEps = Enumerable.Range(0, n).Select(i => ReferenceOps.Normal(seed, step, (uint)i)).ToArray();
        AssertClose(eps.ToArray(), rEps, "philox normal", 1e-5);
        var sig = ToDouble(sigma.ToArray());
        var epsD = ToDouble(eps.ToArray());
        var rZ = mu.Select((m, i) => m + sig[i] * epsD[i]).ToArray();
        AssertClose(z.ToArray(), rZ, "gaussian z");

        // The fused split + sample draws the same noise as Gaussian for the same (seed, step).
        using var eps2 = Poisoned(device, n);
        using var z2 = Poisoned(device, n);
        device.Ops.SplitHeadsAndSample(heads.View, latent, seed, step, mt.View, sigma.View, eps2.View, z2.View);
        Assert.Equal(eps.ToArray(), eps2.ToArray());
        AssertClose(z2.ToArray(), rZ, "split heads + gaussian z");

        var dz = Representable(Random(rng, n));
        using var dzt = Upload(device, dz, n);
        using var dHeads = Poisoned(device, 2 * n);
        foreach (var kind in new[] { KlKind.Seed, KlKind.Standard })
        {
            device.Ops.GaussianBackward(dzt.View, mt.View, sigma.View, eps.View, kind, latent, dHeads.View);
            var (kMu, kSigma) = ReferenceOps.KlGrad(mu, sig, kind);
            var rDMu = dz.Select((g, i) => g + kMu[i]).ToArray();
            var rDLogSigma = dz.Select((g, i) => (g * epsD[i] + kSigma[i]) * sig[i]).ToArray();
            AssertClose(dHeads.ToArray(), ReferenceOps.HeadsLayout(rDMu, rDLogSigma, latent), $"d heads (mu, log sigma) {kind}");
        }
    }

    [Fact]
    public void NoiseIsStandardNormalAndDependsOnEveryCounterInput()
    {
        var draws = Enumerable.Range(0, 20000).Select(i => (double)Philox.Normal(5, 1, (uint)i)).ToArray();
        double mean = draws.Average(), variance = draws.Select(v => (v - mean) * (v - mean)).Average();
        Assert.InRange(mean, -0.03, 0.03);
        Assert.InRange(variance, 0.96, 1.04);
        Assert.NotEqual(Philox.Normal(5, 1, 3), Philox.Normal(6, 1, 3));
        Assert.NotEqual(Philox.Normal(5, 1, 3), Philox.Normal(5, 2, 3));
        Assert.NotEqual(Philox.Normal(5, 1, 3), Philox.Normal(5, 1, 4));
        Assert.Equal(ReferenceOps.PhiloxBits(99, 1UL << 33, 7), (Bits(99, 1UL << 33, 7)));

        static (uint, uint) Bits(ulong seed, ulong step, uint i) { Philox.Bits(seed, step, i, out var a, out var b); return (a, b); }
    }

    [SkippableTheory, MemberData(nameof(AllLoopForms))]
    public void AdamMatchesReferenceOverSeveralSteps(AcceleratorChoice choice, bool strided)
    {
        var device = TestDevices.Get(choice);
        using var loops = strided ? device.Ops.UseStridedLoops() : null;
        var rng = new Random(14);
        int n = 1001;
        var p = Representable(Random(rng, n));
        var m = new double[n]; var v = new double[n];
        using var pt = Upload(device, p, n);
        using var mt = Tensor.Zeros(device, n);
        using var vt = Tensor.Zeros(device, n);
        for (int t = 1; t <= 4; t++)
        {
            var g = Representable(Random(rng, n, -3, 3));
            using var gt = Upload(device, g, n);
            device.Ops.Adam(new AdamStep(1e-2f, 0.9f, 0.999f, 1e-8f, t), pt.View, gt.View, mt.View, vt.View);
            ReferenceOps.Adam(p, g, m, v, t, 1e-2, 0.9, 0.999, 1e-8);
        }
        AssertClose(pt.ToArray(), p, "adam parameters");
        AssertClose(mt.ToArray(), m, "adam m");
    }

    [SkippableTheory, MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void GatherScalesAndReordersImages(AcceleratorChoice choice)
    {
        var device = TestDevices.Get(choice);
        var rng = new Random(15);
        const int count = 9, pixels = 784;
        var bytes = new byte[count * pixels];
        rng.NextBytes(bytes);
        int[] order = { 4, 0, 8, 2, 2, 7 };
        using var images = device.Allocate<byte>(bytes.Length);
        images.View.CopyFromCPU(bytes);
        using var orderBuf = device.Allocate<int>(order.Length);
        orderBuf.View.CopyFromCPU(order);
        using var output = Poisoned(device, 3, pixels);
        device.Ops.GatherImages(images.View, orderBuf.View, 2, 3, pixels, output.View);
        var got = output.ToArray();
        for (int j = 0; j < 3; j++)
            for (int px = 0; px < pixels; px++)
                Assert.InRange(got[j * pixels + px] - bytes[order[2 + j] * pixels + px] / 255.0, -1e-7, 1e-7);
    }

    /// <summary>A linear layer's bias gradient (channels of plane 1): the CPU lane kernel, a ragged last tile
    /// included, and the GPU's per-channel sums, against the double-precision sums.</summary>
    [SkippableTheory, MemberData(nameof(AllLoopForms))]
    public void LinearBiasSumsMatchReference(AcceleratorChoice choice, bool strided)
    {
        var device = TestDevices.Get(choice);
        using var loops = strided ? device.Ops.UseStridedLoops() : null;
        var rng = new Random(16);
        const int batch = 13, columns = 8 * 37 + 5;
        var grad = Representable(Random(rng, batch * columns, -2, 2));
        using var gt = Upload(device, grad, batch, columns);
        using var sums = Poisoned(device, columns);
        device.Ops.ChannelSum(gt.View, batch, columns, 1, sums.View);
        var expected = new double[columns];
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < columns; c++) expected[c] += grad[b * columns + c];
        AssertClose(sums.ToArray(), expected, "bias sums");
    }
}
