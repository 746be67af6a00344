using Vae.Gpu.Devices;
using Vae.Gpu.Diagnostics;

namespace Vae.Gpu.Tests.Kernels;

/// <summary>The kernel lab behind <c>vae-gpu bench --versions</c>, on a small batch of the default model.</summary>
public class KernelLabTests
{
    [SkippableTheory, MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void EveryVersionIsValidatedOrSaysWhyNotAndOneIsTheDefault(AcceleratorChoice choice)
    {
        var device = TestDevices.Get(choice);
        var result = Benchmark.Run(device, batch: 3, repeats: 1, print: null, versions: true);

        Assert.True(result.AllAgree);
        var lab = result.Lab;
        foreach (var (family, count) in new[] { ("conv", Enum.GetValues<ConvVersion>().Length), ("weight-grad", Enum.GetValues<WeightGradVersion>().Length), ("gemm", Enum.GetValues<GemmVersion>().Length) })
        {
            var shapes = lab.Where(r => r.Family == family).GroupBy(r => r.Shape).ToList();
            Assert.NotEmpty(shapes);
            foreach (var shape in shapes)
            {
                Assert.Equal(Enumerable.Range(1, count), shape.Select(r => r.Version).Order());
                Assert.Single(shape, r => r.IsDefault);
            }
        }
        foreach (var row in lab)
        {
            if (row.NotRun is not null) { Assert.False(string.IsNullOrWhiteSpace(row.NotRun)); continue; }
            Assert.True(row.RelativeError <= KernelCheck.Tolerance, $"{row.Family} v{row.Version} at {row.Shape}: relative error {row.RelativeError}");
            Assert.True(row.MedianSeconds > 0, $"{row.Family} v{row.Version} at {row.Shape} has no time");
        }
        // Versions 3 and 4 of the convolution run with the default model's widths wherever their groups fit.
        Assert.Contains(lab, r => r.Family == "conv" && r.Version == (int)ConvVersion.Rows && r.NotRun is null);
        Assert.Contains("\"versions\"", result.ToJson());
        Assert.Contains("\"launches_per_step\"", result.ToJson());
    }
}
