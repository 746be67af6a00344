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
