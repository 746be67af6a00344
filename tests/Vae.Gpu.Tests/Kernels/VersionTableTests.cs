using System.Reflection;
using ILGPU;
using Vae.Gpu.Diagnostics;
using Vae.Gpu.Kernels;

namespace Vae.Gpu.Tests.Kernels;

/// <summary>
/// A kernel version is one row of its family's table: the tests fail when a kernel method has no row, when a
/// row's method is not the version's, when an enum member has no row, or when a grouped version lacks the
/// attribute that tells the PTX tools how to load it.
/// </summary>
public class VersionTableTests
{
    static IEnumerable<(string Family, Type Enum, IEnumerable<IVersionRow> Rows)> Tables() => new[]
    {
        (ConvFamily.Name, typeof(ConvVersion), ConvFamily.Versions.Rows.Cast<IVersionRow>()),
        (WeightGradFamily.Name, typeof(WeightGradVersion), WeightGradFamily.Versions.Rows.Cast<IVersionRow>()),
        (GemmFamily.Name, typeof(GemmVersion), GemmFamily.Versions.Rows.Cast<IVersionRow>()),
    };

    [Fact]
    public void EveryVersionHasExactlyOneRowNamedAfterItsKernelMethod()
    {
        foreach (var (family, type, rows) in Tables())
        {
            var numbers = rows.Select(r => r.Number).ToList();
            Assert.Equal(Enum.GetValues(type).Cast<int>().Order(), numbers.Order());
            foreach (var row in rows)
            {
                Assert.Equal(family, row.Family);
                Assert.Equal(row.Name, row.Method.Name);
                Assert.Equal(Enum.GetName(type, row.Number), row.Name);
                Assert.False(string.IsNullOrWhiteSpace(row.Description), $"{family} {row.Name} has no description");
            }
        }
        Assert.Equal(KernelFamilies.Rows.Count, Tables().Sum(t => t.Rows.Count()));
    }

    [Fact]
    public void EveryKernelTakingAFamilysArgumentsIsAVersionWithARow()
    {
        foreach (var (kernels, args, family) in KernelFamilies.KernelClasses)
        {
            var methods = kernels.GetMethods(BindingFlags.Public | BindingFlags.Static)
                .Where(m => m.GetParameters().Any(p => p.ParameterType == args)).ToList();
            Assert.NotEmpty(methods);
            foreach (var method in methods)
                Assert.True(KernelFamilies.Rows.Any(r => r.Family == family && r.Method.Equals(method)),
                    $"{kernels.Name}.{method.Name} takes {args.Name} but has no row in {family}'s table");
        }
    }

    [Fact]
    public void GroupedVersionsAreMarkedAndEveryVersionIsCompiledByThePtxTools()
    {
        var listed = PtxAssembly.KernelMethods();
        foreach (var row in KernelFamilies.Rows)
        {
            Assert.Equal(row.ExplicitlyGrouped, row.Method.IsDefined(typeof(ExplicitlyGroupedAttribute), false));
            Assert.Equal(!row.ExplicitlyGrouped, row.Method.GetParameters()[0].ParameterType == typeof(Index1D));
            Assert.Contains(row.Method, listed);
        }
    }

    /// <summary>Any public kernel-shaped method of a kernel class (it takes views or a family's arguments) is one
    /// the PTX tools compile: one that is neither grid-stride nor marked grouped would be skipped silently.</summary>
    [Fact]
    public void NoKernelIsSkippedByThePtxTools()
    {
        var listed = PtxAssembly.KernelMethods();
        var argumentStructs = KernelFamilies.KernelClasses.Select(k => k.Args).ToHashSet();
        var kernelShaped = typeof(ConvKernels).Assembly.GetTypes()
            .Where(t => t.IsClass && t.IsAbstract && t.IsSealed && t.Name.EndsWith("Kernels", StringComparison.Ordinal))
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static))
            .Where(m => m.ReturnType == typeof(void) && m.GetParameters().Any(p =>
                argumentStructs.Contains(p.ParameterType) || (p.ParameterType.IsGenericType && p.ParameterType.GetGenericTypeDefinition() == typeof(ArrayView<>))))
            .ToList();
        Assert.True(kernelShaped.Count >= 30, $"found only {kernelShaped.Count} kernels");
        foreach (var method in kernelShaped)
            Assert.True(listed.Contains(method), $"{method.DeclaringType!.Name}.{method.Name} is not grid-stride (Index1D first) and not [ExplicitlyGrouped]: the PTX tools would skip it");
    }

    [Fact]
    public void ACpuShapedRowIsRefusedOnGpusWithTheSharedReasonAndItsOwnRuleElsewhere()
    {
        var gpu = new DeviceLimits(1024, 65_535, IsGpu: true);
        var cpu = new DeviceLimits(1024, 65_535);
        var wide = new ConvShape(2, 3, 8, 40, 40, 3);   // 38 columns: wider than a "rows" version keeps
        Assert.Equal(DeviceLimits.CpuShapedReason, ConvFamily.Versions[ConvVersion.Rows].WhyNot(wide, gpu));
        Assert.Contains("at most 32 columns", ConvFamily.Versions[ConvVersion.Rows].WhyNot(wide, cpu));
        Assert.Null(ConvFamily.Versions[ConvVersion.LaneTiled].WhyNot(wide, cpu));
        foreach (var row in KernelFamilies.Rows.Where(r => r.Traits.HasFlag(VersionTraits.CpuShaped)))
            Assert.False(PtxAssembly.GpuMayPick(row.Method), $"{row.Family} {row.Name} is CPU-shaped but the PTX rules would hold it to a GPU's");
    }
}
