using System.Reflection;
using Vae.Gpu.Diagnostics;
using Vae.Gpu.Kernels;

namespace Vae.Gpu.Tests.Kernels;

/// <summary>
/// Every kernel compiles to PTX for sm_90 at PTX ISA 7.8 with no GPU present and, where NVIDIA's ptxas is found
/// (scripts/get-ptxas; CI requires it), assembles without spills, and the versions a GPU may run keep no
/// local-memory stack frame and fit 48 KB of shared memory.
/// </summary>
public class PtxCompileTests
{
    public static IEnumerable<object[]> KernelMethods() =>
        PtxAssembly.KernelMethods().Select(m => new object[] { m.DeclaringType!.Name, m.Name });

    static MethodInfo Kernel(string type, string name) =>
        typeof(ConvKernels).Assembly.GetType($"Vae.Gpu.Kernels.{type}")!.GetMethod(name)!;

    [Fact]
    public void EveryKernelIsListed() =>
        Assert.True(KernelMethods().Count() >= 20 && KernelMethods().Count(k => (string)k[1] == nameof(ReductionKernels.FinishLoss)) == 1,
            $"found only {KernelMethods().Count()} kernels");

    [Theory, MemberData(nameof(KernelMethods))]
    public void CompilesToPtxForSm90AtIsa78(string type, string name)
    {
        using var context = PtxAssembly.CreateContext();
        string ptx = PtxAssembly.Compile(context, Kernel(type, name));
        // ISA 7.8 is the newest CUDA 11.8's ptxas reads; the target is what the GPU's driver compiles from.
        Assert.Contains(".version 7.8", ptx);
        Assert.Contains(".target sm_", ptx);
        Assert.Contains(".entry", ptx);
    }

    [SkippableFact]
    public void EveryKernelAssemblesForSm90WithoutSpillsOrGpuStackFrames()
    {
        string? ptxas = PtxAssembly.FindPtxas();
        if (ptxas is null && EnvironmentSwitches.Flag(EnvironmentSwitches.RequirePtxas))
            Assert.Fail($"{EnvironmentSwitches.RequirePtxas} is set but no ptxas was found ({EnvironmentSwitches.Ptxas}, PATH, scripts/get-ptxas's cache)");
        Skip.If(ptxas is null, "no ptxas: run scripts/get-ptxas (Debian's nvidia-cuda-toolkit 11.8) or set VAE_GPU_PTXAS");
        var kernels = PtxAssembly.AssembleAll(ptxas!);
        Assert.Equal(KernelMethods().Count(), kernels.Count);
        Assert.Empty(PtxAssembly.Problems(kernels));
        Assert.All(kernels, k => Assert.True(k.Registers > 0, $"{k.Label}: no register count"));
        // The CPU-shaped versions are the ones with accumulator arrays; a GPU never runs them.
        Assert.Contains(kernels, k => !k.GpuMayPick);
    }

    [Fact]
    public void PtxasResourceLinesAreReadAndTheRulesApplied()
    {
        const string output = """
            ptxas info    : 0 bytes gmem
            ptxas info    : Compiling entry function 'Kernel' for 'sm_90'
            ptxas info    : Function properties for Kernel
                1024 bytes stack frame, 8 bytes spill stores, 12 bytes spill loads
            ptxas info    : Used 84 registers, 49664 bytes smem, 400 bytes cmem[0]
            """;
        var parsed = PtxAssembly.Parse(new PtxKernel("ConvKernels", "Staged", true, 0, 0, 0, 0, 0, null), output);
        Assert.Equal((84, 49664, 1024, 8, 12), (parsed.Registers, parsed.SharedBytes, parsed.StackBytes, parsed.SpillStoreBytes, parsed.SpillLoadBytes));
        var problems = PtxAssembly.Problems(new[] { parsed }).ToList();
        Assert.Equal(3, problems.Count);  // spills, a stack frame a GPU would run, shared memory past 48 KB
        Assert.Single(PtxAssembly.Problems(new[] { parsed with { GpuMayPick = false } }));  // only the spill
        Assert.Contains("1 rule", PtxAssembly.Summary(new[] { parsed with { GpuMayPick = false } }));
        Assert.NotNull(PtxAssembly.Parse(parsed, "ptxas fatal : bad input").Error);
    }

    [Fact]
    public void OnlyTheCpuShapedVersionsAreKeptFromGpus()
    {
        // From the families' rows and the [CpuOnly] marks: a new CPU-shaped version needs no edit here.
        var keptFromGpus = PtxAssembly.KernelMethods().Where(m => !PtxAssembly.GpuMayPick(m)).Select(m => $"{m.DeclaringType!.Name}.{m.Name}");
        var cpuShaped = KernelFamilies.Rows.Where(r => r.Traits.HasFlag(VersionTraits.CpuShaped)).Select(r => r.Method)
            .Concat(PtxAssembly.KernelMethods().Where(m => m.IsDefined(typeof(CpuOnlyAttribute), false)))
            .Select(m => $"{m.DeclaringType!.Name}.{m.Name}");
        Assert.Equal(cpuShaped.Order(), keptFromGpus.Order());
        Assert.Contains("ConvKernels.LanePairs", keptFromGpus);
        Assert.Contains("LossKernels.BceRunPartials", keptFromGpus);
        Assert.DoesNotContain("ConvKernels.Staged", keptFromGpus);
    }
}
