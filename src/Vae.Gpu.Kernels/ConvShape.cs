namespace Vae.Gpu.Kernels;

/// <summary>
/// A stride-1, unpadded ("valid") cross-correlation: input (B, In, H, W), weight (Out, In, K, K),
/// output (B, Out, H-K+1, W-K+1). Every convolution of the model reduces to this shape.
/// </summary>
public readonly struct ConvShape
{
    public readonly int Batch, InChannels, OutChannels, InHeight, InWidth, Kernel;

    public ConvShape(int batch, int inChannels, int outChannels, int inHeight, int inWidth, int kernel)
    {
        Batch = batch; InChannels = inChannels; OutChannels = outChannels;
        InHeight = inHeight; InWidth = inWidth; Kernel = kernel;
    }

    public int OutHeight => InHeight - Kernel + 1;
    public int OutWidth => InWidth - Kernel + 1;
    public int InputLength => Batch * InChannels * InHeight * InWidth;
    public int OutputLength => Batch * OutChannels * OutHeight * OutWidth;
    public int WeightLength => OutChannels * InChannels * Kernel * Kernel;
    /// <summary>Multiply-adds of one forward pass (also of its weight gradient).</summary>
    public long MultiplyAdds => (long)OutputLength * InChannels * Kernel * Kernel;

    public override string ToString() =>
        $"({Batch},{InChannels},{InHeight},{InWidth})*({OutChannels},{InChannels},{Kernel},{Kernel})";
}

/// <summary>
/// C (M, N) = A (M, K) * B (K, N), where A[m, k] = a[m * StrideAm + k * StrideAk] and
/// B[k, n] = b[k * StrideBk + n * StrideBn]: strides express every transpose the linear layers need.
/// </summary>
public readonly struct GemmShape
{
    public readonly int M, N, K, StrideAm, StrideAk, StrideBk, StrideBn;

    public GemmShape(int m, int n, int k, int strideAm, int strideAk, int strideBk, int strideBn)
    {
        M = m; N = n; K = k;
        StrideAm = strideAm; StrideAk = strideAk; StrideBk = strideBk; StrideBn = strideBn;
    }

    public long MultiplyAdds => (long)M * N * K;

    public override string ToString() => $"{M}x{N}x{K}";
}
