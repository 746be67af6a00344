namespace Vae.Gpu.Kernels;

/// <summary>
/// The arithmetic and the compulsory memory traffic of one launch (each input read once, each output
/// written once): the benchmark divides them by the time to print GFLOP/s and GB/s.
/// </summary>
public readonly record struct KernelCost(double Flops, double Bytes)
{
    const double F = sizeof(float);

    public static KernelCost ValidConv(ConvShape s) =>
        new(2.0 * s.MultiplyAdds, F * ((double)s.InputLength + s.WeightLength + s.OutputLength));

    public static KernelCost WeightGrad(ConvShape s, int chunks) =>
        new(2.0 * s.MultiplyAdds, F * ((double)s.InputLength + s.OutputLength + (double)s.WeightLength * chunks));

    public static KernelCost Gemm(GemmShape s, int splits) =>
        new(2.0 * s.MultiplyAdds, F * ((double)s.M * s.K + (double)s.K * s.N + (double)s.M * s.N * splits));

    /// <summary>An elementwise or reduction pass: <paramref name="flopsPerItem"/> per item, the given floats read and written per item.</summary>
    public static KernelCost Elementwise(long items, double flopsPerItem, double floatsPerItem) =>
        new(items * flopsPerItem, F * items * floatsPerItem);
}
