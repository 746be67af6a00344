using System.Reflection;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using Vae.Gpu.Kernels;

namespace Vae.Gpu.Tests.Kernels;

/// <summary>Every kernel compiles to PTX for sm_90 with no GPU present, so CUDA breakage shows in CI.</summary>
public class PtxCompileTests
{
    public static IEnumerable<object[]> KernelMethods() =>
        typeof(ConvKernels).Assembly.GetTypes()
            .Where(t => t.IsClass && t.IsAbstract && t.IsSealed && t.Namespace == "Vae.Gpu.Kernels")
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static))
            .Where(IsKernel)
            .Select(m => new object[] { m.DeclaringType!.Name, m.Name });

    /// <summary>A kernel is a public static void method whose first parameter is an index, or an explicitly grouped one.</summary>
    static bool IsKernel(MethodInfo m) =>
        m.ReturnType == typeof(void) && m.GetParameters().Length > 0 &&
        (m.GetParameters()[0].ParameterType == typeof(Index1D) || m.GetCustomAttribute<ExplicitlyGroupedAttribute>() is not null);

    [Fact]
    public void EveryKernelIsListed() =>
        Assert.True(KernelMethods().Count() >= 17 && KernelMethods().Count(k => (string)k[1] == nameof(ReductionKernels.FinishLoss)) == 1, $"found only {KernelMethods().Count()} kernels");

    [Theory, MemberData(nameof(KernelMethods))]
    public void CompilesToPtxForSm90(string type, string name)
    {
        var method = typeof(ConvKernels).Assembly.GetType($"Vae.Gpu.Kernels.{type}")!.GetMethod(name)!;
        using var context = Context.Create(b => b.EnableAlgorithms());
        var backend = new PTXBackend(context, CudaArchitecture.SM_90, CudaInstructionSet.ISA_80, null!);
        var entry = method.GetParameters()[0].ParameterType == typeof(Index1D)
            ? EntryPointDescription.FromImplicitlyGroupedKernel(method)
            : EntryPointDescription.FromExplicitlyGroupedKernel(method);
        var compiled = (PTXCompiledKernel)backend.Compile(entry, default);
        // ISA 8.0 caps the emitted target at sm_80, which an sm_90 GPU runs.
        Assert.Contains(".target sm_", compiled.PTXAssembly);
        Assert.Contains(".entry", compiled.PTXAssembly);
    }
}
