namespace Vae.Gpu.Kernels;

/// <summary>The versioned kernel families, for the tools that look at every version of every family.</summary>
public static class KernelFamilies
{
    /// <summary>Every version's row: the convolution's, the weight gradient's, then the GEMM's.</summary>
    public static IReadOnlyList<IVersionRow> Rows { get; } =
        ConvFamily.Versions.Rows.Cast<IVersionRow>().Concat(WeightGradFamily.Versions.Rows).Concat(GemmFamily.Versions.Rows).ToList();

    /// <summary>The kernel classes whose kernels taking the family's argument struct are versions: each needs a row.</summary>
    public static IReadOnlyList<(Type Kernels, Type Args, string Family)> KernelClasses { get; } = new[]
    {
        (typeof(ConvKernels), typeof(ConvArgs), ConvFamily.Name),
        (typeof(WeightGradKernels), typeof(WeightGradArgs), WeightGradFamily.Name),
        (typeof(GemmKernels), typeof(GemmArgs), GemmFamily.Name),
    };
}
