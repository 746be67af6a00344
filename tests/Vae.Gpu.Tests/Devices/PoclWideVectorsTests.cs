using System.Runtime.Intrinsics.X86;
using Vae.Gpu.Devices;
using Vae.Gpu.Kernels;
using Vae.Gpu.Tensors;

namespace Vae.Gpu.Tests.Devices;

/// <summary>PoCL is asked for 512-bit vectors on AVX-512 CPUs without losing the user's own build options, the
/// request reaches its compiler (the 16-lane probe becomes zmm FMAs), and the profile then picks the 16-lane versions.</summary>
public class PoclWideVectorsTests
{
    [Fact]
    public void OurOptionsFollowTheUsersAndAreAddedOnce()
    {
        Assert.Equal(PoclWideVectors.Flags, PoclWideVectors.Compose(null));
        Assert.Equal(PoclWideVectors.Flags, PoclWideVectors.Compose("  "));
        Assert.Equal("-DMY_OPTION=1 " + PoclWideVectors.Flags, PoclWideVectors.Compose("-DMY_OPTION=1 "));
        Assert.Null(PoclWideVectors.Compose("-DMY_OPTION=1 " + PoclWideVectors.Flags));
    }

    [Fact]
    public void TheOptionsHoldNoDoubleQuoteOrSpaceInsideAnOption()
    {
        // PoCL strips double quotes from build options and splits them at spaces.
        Assert.DoesNotContain('"', PoclWideVectors.Flags);
        Assert.All(PoclWideVectors.Flags.Split(' '), option => Assert.StartsWith("-D", option));
    }

    static ComputeDevice WideOpenCl()
    {
        var device = TestDevices.Get(AcceleratorChoice.OpenCL);
        Skip.IfNot(device.Profile.Kind == "opencl-cpu", "the OpenCL device is not a CPU");
        Skip.IfNot(PoclWideVectors.Wanted, Avx512F.IsSupported ? $"{EnvironmentSwitches.PoclWide} turns the wide vectors off" : "this CPU has no AVX-512");
        return device;
    }

    [SkippableFact]
    public void OnAnAvx512CpuTheOpenClDeviceBuildsWideAndPicksThe16LaneVersions()
    {
        var device = WideOpenCl();
        Assert.True(PoclWideVectors.Applied, $"{PoclWideVectors.BuildFlagsVariable} lacks {PoclWideVectors.Flags}");
        Assert.Equal(ConvVersion.FlatRuns, device.Profile.Conv);
        Assert.Equal(WeightGradVersion.WideTiled, device.Profile.WeightGrad);
        Assert.Equal(GemmVersion.WideTiled, device.Profile.Gemm);
    }

    [Fact]
    public void GemmV7HandsNarrowAndStridedProductsToTheVersionsThatServeThem()
    {
        // Fewer than 16 columns (one 16-lane vector): version 4; B's columns strided with A's and B's K contiguous
        // and long: version 8 (version 5 at 16 lanes), or version 5 where K fills 8 lanes but not 16 8 times over;
        // A's rows contiguous and at most 16 columns (the decoder's weight gradient): version 9; the default
        // model's other 16-column product keeps version 7.
        Assert.Equal(GemmVersion.LaneTiled, GemmFamily.Default(GemmVersion.WideTiled, new GemmShape(128, 8, 300, 300, 1, 8, 1)));
        Assert.Equal(GemmVersion.TallTiled, GemmFamily.Default(GemmVersion.WideTiled, new GemmShape(18432, 16, 128, 1, 18432, 16, 1)));
        Assert.Equal(GemmVersion.WideTiled, GemmFamily.Default(GemmVersion.WideTiled, new GemmShape(128, 16, 18432, 18432, 1, 16, 1)));
        Assert.Equal(GemmVersion.WideDot, GemmFamily.Default(GemmVersion.WideTiled, new GemmShape(128, 32, 18432, 18432, 1, 1, 18432)));
        Assert.Equal(GemmVersion.LaneDot, GemmFamily.Default(GemmVersion.WideTiled, new GemmShape(128, 32, 100, 100, 1, 1, 100)));
        Assert.Equal(GemmVersion.WideTiled, GemmFamily.Default(GemmVersion.WideTiled, new GemmShape(128, 18432, 32, 32, 1, 18432, 1)));
    }

    [SkippableFact]
    public void TheSixteenLaneProbeBecomes512BitFmas()
    {
        var device = WideOpenCl();
        using var output = Tensor.Zeros(device, 64);
        device.Ops.FmaChains(16, 64, 10, output.View);
        device.Synchronize();
        string assembly = PoclObjects.NewestAssembly("FmaChains16");
        Assert.Matches(@"vfmadd\w*ps\s+%zmm", assembly);
    }
}
