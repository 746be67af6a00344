using Vae.Gpu.Devices;
using Vae.Gpu.Diagnostics;
using Vae.Gpu.Kernels;

namespace Vae.Gpu.Tests.Devices;

/// <summary>The CPU-shaped kernels' prefetch (<see cref="CachePrefetch"/>) reaches the code PoCL builds: a convolution
/// asks for the next image's lines, to read and to write.</summary>
public class CachePrefetchTests
{
    [SkippableFact]
    public void ALaneConvolutionOnPoclHasReadAndWritePrefetches()
    {
        var device = TestDevices.Get(AcceleratorChoice.OpenCL);
        Skip.IfNot(device.Profile.Kind == "opencl-cpu", "the OpenCL device is not a CPU");
        // Two images, so that the first image's items ask for the second's input and output; the result is still
        // the reference's (a prefetch changes no value).
        var c = new ConvCase(new ConvCall(new ConvShape(2, 8, 8, 12, 20, 3), 0, false, EpilogueFlags.Bias | EpilogueFlags.Relu));
        var (error, _, _) = KernelHarness.Validate(device, c, (int)ConvVersion.LanePairs, seed: 5);
        Assert.InRange(error, 0, 1);
        string assembly = PoclObjects.NewestAssembly(nameof(ConvKernels.LanePairs));
        Assert.Matches(@"\sprefetcht0\s", assembly);
        Assert.Matches(@"\sprefetchw\s", assembly);
    }
}
