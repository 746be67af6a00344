using Vae.Gpu.Devices;
using Vae.Gpu.Training;
using Program = Vae.Gpu.Cli.Program;

namespace Vae.Gpu.Tests.Cli;

/// <summary>auto's fallback over accelerators that are listed but cannot be opened.</summary>
public class AcceleratorFallbackTests
{
    [Fact]
    public void AutoSkipsAnAcceleratorThatCannotBeOpenedAndSaysSo()
    {
        var candidates = new[] { "cuda", "opencl", "cpu" };
        var (opened, notes) = ComputeDevice.OpenFirst(candidates,
            c => c == "cpu" ? c : throw new InvalidOperationException($"{c} driver refused."), c => c);
        Assert.Equal("cpu", opened);
        Assert.Equal(new[]
        {
            "cuda is listed but could not be opened (cuda driver refused); trying opencl",
            "opencl is listed but could not be opened (opencl driver refused); trying cpu",
        }, notes);

        var ex = Assert.Throws<VaeException>(() => ComputeDevice.OpenFirst<string, string>(new[] { "opencl" }, c => throw new InvalidOperationException("no."), c => c));
        Assert.Equal("opencl could not be opened: no; check its driver or use another Accelerator", ex.Message);
    }
}
