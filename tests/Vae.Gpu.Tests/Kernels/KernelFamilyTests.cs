using Vae.Gpu.Devices;
using Vae.Gpu.Diagnostics;
using Vae.Gpu.Kernels;
using static Vae.Gpu.Tests.Numeric;

namespace Vae.Gpu.Tests.Kernels;

/// <summary>
/// Every version of every versioned family (convolution, weight gradient, GEMM) on the one case list
/// (<see cref="KernelCases.Odd"/>: odd shapes, each call a layer makes with its padding, flipped weight and
/// epilogue), through the one harness that <c>check</c>, the lab and <c>tune</c> use, on every accelerator present;
/// and the accelerators against each other on the same inputs.
/// </summary>
public class KernelFamilyTests
{
    static readonly AcceleratorChoice[] Kinds = { AcceleratorChoice.Cpu, AcceleratorChoice.Cuda, AcceleratorChoice.OpenCL };
    static readonly IReadOnlyList<KernelCase> Odd = KernelCases.Odd();

    public static IEnumerable<object[]> Cases() =>
        from choice in Kinds
        from c in Odd
        from v in c.Versions
        select new object[] { choice, c.Key, v };

    /// <summary>The same inputs for a case on every accelerator (string.GetHashCode is salted per process).</summary>
    static int SeedOf(string key) => key.Aggregate(17, (h, ch) => unchecked(h * 31 + ch));

    [Fact]
    public void TheCaseListCoversEveryVersionAndItsRefusals()
    {
        Assert.Equal(Odd.Count, Odd.Select(c => c.Key).Distinct().Count());
        foreach (var family in new[] { ConvFamily.Name, WeightGradFamily.Name, GemmFamily.Name })
            Assert.Contains(Odd, c => c.Family == family);
        // The wide layer is past conv v4's and weight-gradient v2's rows: their rules must say so (and dispatch falls back).
        var limits = new DeviceLimits(1024, 65535);
        Assert.Contains(Odd, c => c.Family == ConvFamily.Name && c.WhyNot((int)ConvVersion.Rows, limits) is not null);
        Assert.Contains(Odd, c => c.Family == WeightGradFamily.Name && c.WhyNot((int)WeightGradVersion.Rows, limits) is not null);
        Assert.Contains(Odd, c => c.Call is ConvCall { Pad: > 0, Flipped: true });
        Assert.Contains(Odd, c => c.Call is ConvCall { Flags: EpilogueFlags.Accumulate });
        // Conv v8 runs its runs (not version 7's tiles) with every epilogue, padded and flipped too.
        foreach (var flags in new[] { EpilogueFlags.Bias | EpilogueFlags.Relu, EpilogueFlags.MaskPositive, EpilogueFlags.Bias | EpilogueFlags.Sigmoid, EpilogueFlags.Accumulate })
            Assert.Contains(Odd, c => c.Call is ConvCall call && call.Flags == flags && ConvKernels.RunsFit(call.Shape));
        Assert.Contains(Odd, c => c.Call is ConvCall { Pad: > 0, Flipped: true } call && ConvKernels.RunsFit(call.Shape));
    }

    [Fact]
    public void TheStagedConvolutionRefusesGridsPastTheZLimit()
    {
        // Version 3 puts batch x output-channel tiles in grid Z (65,535 on CUDA): the default model's second
        // convolution at --batch 16384 has 16384 x 4 of them.
        var cuda = new DeviceLimits(1024, 65535);
        var shape = new ConvShape(16384, 16, 32, 28, 28, 3);
        Assert.Contains("grid Z", ConvFamily.WhyNot(ConvVersion.Staged, shape, cuda));
        Assert.Null(ConvFamily.WhyNot(ConvVersion.Staged, new ConvShape(128, 16, 32, 28, 28, 3), cuda));
        Assert.Null(ConvFamily.WhyNot(ConvVersion.Coalesced, shape, cuda));
    }

    [SkippableTheory, MemberData(nameof(Cases))]
    public void EveryVersionMatchesTheReference(AcceleratorChoice choice, string key, int version)
    {
        var device = TestDevices.Get(choice);
        var c = Odd.Single(x => x.Key == key);
        var why = c.WhyNot(version, device.Versions.Limits);
        Skip.If(why is not null, $"{c.Family} v{version} {c.Kernel(version)} on the {choice} accelerator: {why}");
        var (_, result, reference) = KernelHarness.Validate(device, c, version, SeedOf(key));
        AssertClose(result, reference, $"{c.Family} v{version} {c.Kernel(version)} at {c.Call}", c.Tolerance);
    }

    [SkippableTheory, MemberData(nameof(TestDevices.Pairs), MemberType = typeof(TestDevices))]
    public void AcceleratorsAgreeOnEveryVersion(AcceleratorChoice a, AcceleratorChoice b)
    {
        var first = TestDevices.Get(a);
        var second = TestDevices.Get(b);
        var disagreements = new List<string>();
        int compared = 0;
        foreach (var c in Odd)
            foreach (int v in c.Versions.Where(v => c.WhyNot(v, first.Versions.Limits) is null && c.WhyNot(v, second.Versions.Limits) is null))
            {
                var x = KernelHarness.Validate(first, c, v, SeedOf(c.Key)).Result;
                var y = KernelHarness.Validate(second, c, v, SeedOf(c.Key)).Result;
                double difference = c.Tolerance.Doubled.Error(x, ToDouble(y));
                compared++;
                if (!(difference <= 1)) disagreements.Add($"{c.Family} v{v} at {c.Call}: {difference:F2} of {c.Tolerance.Doubled}");
            }
        Assert.True(compared > 0);
        Assert.True(disagreements.Count == 0, $"{a} vs {b}: " + string.Join("; ", disagreements));
    }

    [SkippableTheory, MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void DispatchFallsBackWhereTheChosenVersionCannotRun(AcceleratorChoice choice)
    {
        var device = TestDevices.Get(choice);
        var wide = Odd.OfType<ConvCase>().First(c => c.WhyNot((int)ConvVersion.Rows, device.Versions.Limits) is not null);
        using (device.Versions.Force(ConvVersion.Rows))
            Assert.Equal(ConvFamily.Fallback, device.Versions.Conv(wide.TypedCall));
        var launches = new List<KernelLaunch>();
        device.Ops.Profiler = launches.Add;
        try
        {
            using var forced = device.Versions.Force(ConvVersion.Tiled);
            using var call = wide.Prepare(device, new Random(1));
            call.Run();
        }
        finally { device.Ops.Profiler = null; }
        // Version 1 reads a padded input and an unflipped weight: the call pads and flips first, and the records say so.
        var call0 = wide.TypedCall;
        Assert.Equal(
            (call0.Pad > 0 ? 1 : 0) + (call0.Flipped ? 1 : 0) + 1,
            launches.Count);
        Assert.Contains(launches, l => l.Family == ConvFamily.Name && l.Version == (int)ConvVersion.Tiled && Equals(l.Call, call0));
    }

    [SkippableTheory, MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void PadAndFlipTransposeAreExact(AcceleratorChoice choice)
    {
        var device = TestDevices.Get(choice);
        var rng = new Random(3);
        var x = Representable(Random(rng, 2 * 3 * 5 * 4));
        using var xt = Upload(device, x, 6, 5, 4);
        // Both of Pad's forms: a row a work-item (CPUs) and an element a work-item (GPUs' strided loops).
        foreach (bool strided in new[] { false, true })
        {
            using var loops = strided ? device.Ops.UseStridedLoops() : null;
            using var padded = Poisoned(device, 6, 9, 8);
            ConvFamily.Pad(device.Ops, xt.View, 6, 5, 4, 2, padded.View);
            var pd = padded.ToArray();
            for (int pl = 0; pl < 6; pl++)
                for (int r = 0; r < 9; r++)
                    for (int c = 0; c < 8; c++)
                    {
                        bool inside = r >= 2 && r < 7 && c >= 2 && c < 6;
                        Assert.Equal(inside ? (float)x[(pl * 5 + r - 2) * 4 + c - 2] : 0f, pd[(pl * 9 + r) * 8 + c]);
                    }
        }

        var wt = Representable(Random(rng, 3 * 2 * 4 * 4));
        using var wtt = Upload(device, wt, 3, 2, 4, 4);
        using var flipped = Poisoned(device, 2, 3, 4, 4);
        ConvFamily.FlipTranspose(device.Ops, wtt.View, 3, 2, 4, flipped.View);
        var f = flipped.ToArray();
        for (int q = 0; q < 2; q++)
            for (int pp = 0; pp < 3; pp++)
                for (int u = 0; u < 4; u++)
                    for (int v = 0; v < 4; v++)
                        Assert.Equal((float)wt[((pp * 2 + q) * 4 + 3 - u) * 4 + 3 - v], f[((q * 3 + pp) * 4 + u) * 4 + v]);
    }
}
