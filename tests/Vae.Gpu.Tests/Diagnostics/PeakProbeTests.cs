using Vae.Gpu.Devices;
using Vae.Gpu.Diagnostics;
using Vae.Gpu.Kernels;
using Vae.Gpu.Tensors;

namespace Vae.Gpu.Tests.Diagnostics;

/// <summary>The FMA peak probe computes what its recurrence says (so no compiler removed the work) on every
/// accelerator, and bench reports the kernels and the step as shares of the peak it measured.</summary>
public class PeakProbeTests
{
    /// <summary>Work-item w's output: the sum over its chains and lanes of x_{n+1} = x_n s + a from Start(w, lane), in double.</summary>
    static double Reference(int item, int iterations, int width)
    {
        double sum = 0;
        for (int lane = 0; lane < PeakKernels.Chains * width; lane++)
        {
            double x = PeakKernels.Start(item, lane);
            for (int i = 0; i < iterations; i++) x = x * PeakKernels.Scale + PeakKernels.Addend;
            sum += x;
        }
        return sum;
    }

    public static IEnumerable<object[]> Cases() =>
        from choice in new[] { AcceleratorChoice.Cpu, AcceleratorChoice.OpenCL, AcceleratorChoice.Cuda }
        from width in new[] { 1, 8, 16 }
        select new object[] { choice, width };

    [SkippableTheory, MemberData(nameof(Cases))]
    public void TheProbeComputesItsRecurrence(AcceleratorChoice choice, int width)
    {
        var device = TestDevices.Get(choice);
        Skip.If(width > 1 && device.Ops.Limits.IsGpu, "the 8- and 16-lane forms are CPU-shaped (a private array per work-item)");
        const int items = 37, iterations = 300;
        using var output = Tensor.Zeros(device, items);
        device.Ops.FmaChains(width, items, iterations, output.View);
        var got = output.ToArray();
        for (int w = 0; w < items; w++)
        {
            // The width-1 form starts its 12 chains at lanes 0..11; float32 rounding over 300 steps stays below 1e-5 relative.
            double expected = width == 1 ? Enumerable.Range(0, PeakKernels.Chains).Sum(l => Chain(w, l, iterations)) : Reference(w, iterations, width);
            Assert.True(Math.Abs(got[w] - expected) <= 1e-5 * Math.Abs(expected), $"work-item {w}: {got[w]} against {expected}");
        }
    }

    [SkippableTheory, MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void TheTriadComputesBPlusSTimesCInBothLoopForms(AcceleratorChoice choice)
    {
        var device = TestDevices.Get(choice);
        var rng = new Random(9);
        const int n = 10_007;
        var b = Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        var c = Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        foreach (bool strided in new[] { false, true })
        {
            using var loops = strided ? device.Ops.UseStridedLoops() : null;
            using var at = Tensor.Zeros(device, n);
            using var bt = Tensor.FromArray(device, b, n);
            using var ct = Tensor.FromArray(device, c, n);
            device.Ops.Triad(0.75f, at.View, bt.View, ct.View);
            var a = at.ToArray();
            for (int i = 0; i < n; i++)
                Assert.True(Math.Abs(a[i] - (b[i] + 0.75 * c[i])) <= 1e-6, $"element {i} ({(strided ? "strided" : "runs")}): {a[i]} against {b[i] + 0.75 * c[i]}");
        }
    }

    static double Chain(int item, int lane, int iterations)
    {
        double x = PeakKernels.Start(item, lane);
        for (int i = 0; i < iterations; i++) x = x * PeakKernels.Scale + PeakKernels.Addend;
        return x;
    }

    [Fact]
    public void MergedProbesKeepEachWidthsHigherFigure()
    {
        var before = new PeakResult(new[] { new PeakWidth(8, 256, 100), new PeakWidth(16, 512, 200) }, "probe") { BandwidthGBs = 40 };
        var after = new PeakResult(new[] { new PeakWidth(8, 256, 150), new PeakWidth(16, 512, 180) }, "probe");
        var merged = before.Merge(after);
        Assert.Equal(new[] { 150.0, 200.0 }, merged.Widths.Select(w => w.Gflops));
        Assert.Equal(200, merged.Gflops);
        Assert.Equal(512, merged.Best.Bits);
        Assert.Equal(new[] { 200.0, 180.0 }, merged.Probes);
        Assert.Equal(40, merged.BandwidthGBs);
        Assert.Equal(new[] { 200.0, 180.0, 250.0 }, merged.Merge(new PeakResult(new[] { new PeakWidth(16, 512, 250) }, "probe")).Probes);
    }

    [SkippableTheory, MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void BenchReportsTheStepAsAShareOfTheMeasuredPeak(AcceleratorChoice choice)
    {
        var device = TestDevices.Get(choice);
        var result = Benchmark.Run(device, batch: 8, repeats: 1, print: null, versions: false, check: false,
            model: new Vae.Gpu.Model.VaeConfig(4, 6, 3, 3));
        Assert.NotNull(result.Peak);
        Assert.All(result.Peak!.Widths, w => Assert.True(w.Gflops > 0 && double.IsFinite(w.Gflops), $"{w.Bits}-bit: {w.Gflops}"));
        Assert.True(result.StepFlops > 0);
        double share = result.ShareOfPeak(result.StepGflops)!.Value;
        Assert.True(share > 0 && double.IsFinite(share));
        var json = System.Text.Json.Nodes.JsonNode.Parse(result.ToJson())!;
        Assert.Equal(result.Peak.Gflops, json["peak_gflops"]!.GetValue<double>(), 6);
        Assert.Equal(result.Peak.Best.Bits, json["peak_width_bits"]!.GetValue<int>());
        // Probed before the step's timing and after it; the peak is the higher of the two.
        var probes = json["peak"]!["probes_gflops"]!.AsArray().Select(p => p!.GetValue<double>()).ToList();
        Assert.Equal(2, probes.Count);
        Assert.All(probes, p => Assert.True(p > 0 && p <= result.Peak.Gflops * (1 + 1e-12), $"probe {p} against the peak {result.Peak.Gflops}"));
        Assert.Equal(result.Peak.Gflops, probes.Max(), 6);
        Assert.True(result.Peak.BandwidthGBs > 0 && double.IsFinite(result.Peak.BandwidthGBs));
        Assert.Equal(result.Peak.Gflops / result.Peak.BandwidthGBs, json["peak"]!["ridge_flop_per_byte"]!.GetValue<double>(), 6);
        // The roofline never asks more of a kernel than the peak.
        Assert.All(json["kernels"]!.AsArray(), k => Assert.True(k!["roofline_gflop_per_second"]!.GetValue<double>() <= result.Peak.Gflops * (1 + 1e-12)));
        Assert.Equal(share, json["training"]!["share_of_peak"]!.GetValue<double>(), 6);
        Assert.All(json["kernels"]!.AsArray(), k => Assert.True(k!["share_of_peak"]!.GetValue<double>() >= 0));
        Assert.Contains(json["kernels"]!.AsArray(), k => k!["share_of_peak"]!.GetValue<double>() > 0);
    }
}
