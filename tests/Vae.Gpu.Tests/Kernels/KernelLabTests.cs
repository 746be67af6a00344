using Vae.Gpu.Devices;
using Vae.Gpu.Diagnostics;
using Vae.Gpu.Kernels;

namespace Vae.Gpu.Tests.Kernels;

/// <summary>The kernel lab behind <c>vae-gpu bench --versions</c> and <c>tune</c>, on a small batch of the default model.</summary>
public class KernelLabTests
{
    [Trait("Category", "Slow")]
    [SkippableTheory, MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void EveryVersionAtEveryCallOfTheStepIsValidatedOrSaysWhyNotAndOneIsTheDefault(AcceleratorChoice choice)
    {
        var device = TestDevices.Get(choice);
        var printed = new List<string>();
        var result = Benchmark.Run(device, batch: 3, repeats: 1, print: printed.Add, versions: true);

        // With the lab, the whole check is left out unless asked: the lab validates every version at every call.
        Assert.Empty(result.Checks);
        Assert.True(result.AllAgree, "disagree: " + string.Join("; ", result.Lab.Where(r => !r.Passed).Select(r => $"{r.Family} v{r.Version} {r.Call} {r.Error:F2}")));
        // The verdict scripts/bench-peers reads beside the figure, as the peers print theirs.
        Assert.Equal($"results: right (all {result.Lab.Count(r => r.Ran)} versions at the step's calls agree with their float64 reference)", printed[^1]);
        var lab = result.Lab;
        foreach (var (family, count) in new[] { (ConvFamily.Name, Enum.GetValues<ConvVersion>().Length), (WeightGradFamily.Name, Enum.GetValues<WeightGradVersion>().Length), (GemmFamily.Name, Enum.GetValues<GemmVersion>().Length) })
        {
            var calls = lab.Where(r => r.Family == family).GroupBy(r => r.Call).ToList();
            Assert.NotEmpty(calls);
            foreach (var call in calls)
            {
                Assert.Equal(Enumerable.Range(1, count), call.Select(r => r.Version).Order());
                Assert.Single(call, r => r.IsDefault);
            }
        }
        foreach (var row in lab)
        {
            if (row.NotRun is not null) { Assert.False(string.IsNullOrWhiteSpace(row.NotRun)); continue; }
            Assert.True(row.Error <= 1, $"{row.Family} v{row.Version} at {row.Call}: error {row.Error} of its tolerance");
            Assert.True(row.MedianSeconds > 0, $"{row.Family} v{row.Version} at {row.Call} has no time");
        }
        // The lab runs the calls as training makes them: the transposed convolutions' padded, flipped calls too.
        Assert.Contains(lab, r => r.Family == ConvFamily.Name && r.Call.Contains("pad 2 flipped"));
        Assert.Contains(lab, r => r.Family == ConvFamily.Name && r.Version == (int)ConvVersion.Rows && r.NotRun is null);
        Assert.Contains("\"versions\"", result.ToJson());
        Assert.Contains("\"launches_per_step\"", result.ToJson());
        Assert.Contains("\"source\": \"defaults\"", result.ToJson());
        // Figures are compared across machines: the JSON names the CPU's vector width and, on OpenCL, the device.
        var machine = System.Text.Json.Nodes.JsonNode.Parse(result.ToJson())!["machine"]!;
        Assert.Equal(MachineInfo.VectorWidth(), (string)machine["vector"]!);
        Assert.Equal(Environment.ProcessorCount, (int)machine["cores"]!);
        Assert.Equal(choice == AcceleratorChoice.OpenCL, machine["opencl_device"] is not null);
    }

    [SkippableTheory, MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void TimingAVersionThatPadsIncludesItsPaddingLaunches(AcceleratorChoice choice)
    {
        var device = TestDevices.Get(choice);
        var padded = new ConvCase(new ConvCall(new ConvShape(4, 16, 8, 20, 20, 3), 2, true, EpilogueFlags.Bias));
        // One call of v2 on a padded, flipped input is three launches (pad, flip, convolution); the harness times the whole call.
        var launches = new List<KernelLaunch>();
        device.Ops.Profiler = launches.Add;
        try
        {
            using var forced = padded.Force(device.Versions, (int)ConvVersion.Coalesced);
            using var call = padded.Prepare(device, new Random(2));
            call.Run();
        }
        finally { device.Ops.Profiler = null; }
        Assert.Equal(new[] { nameof(ConvKernels.Pad), nameof(ConvKernels.FlipTranspose), nameof(ConvVersion.Coalesced) }, launches.Select(l => l.Kernel));
        Assert.True(KernelHarness.Time(device, padded, (int)ConvVersion.Coalesced, 1) > 0);
    }

    [Fact]
    public void AKernelThatReturnsNaNIsWrittenAsNullNotAnException()
    {
        // A GPU kernel gone wrong gives NaN; System.Text.Json refuses non-finite numbers, so they are written as null.
        var row = new LabRow("conv", 1, "Tiled", "d", "(1,1,3,3)*(1,1,3,3)", true, double.PositiveInfinity, double.NaN, new Vae.Gpu.Kernels.KernelCost(18, 0), null);
        var json = System.Text.Json.Nodes.JsonNode.Parse(row.ToJson().ToJsonString())!;
        Assert.Null(json["error"]);
        Assert.Null(json["median_ms"]);
        Assert.Null(json["gflop_per_second"]);
        Assert.False(row.Passed);
        var choice = new Vae.Gpu.Tuning.TunedChoice("conv", "c", 2, "Coalesced", 1, 1e-3, double.NaN);
        Assert.Null(System.Text.Json.Nodes.JsonNode.Parse(choice.ToJson().ToJsonString())!["default_ms"]);
    }
}
