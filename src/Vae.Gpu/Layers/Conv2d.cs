using Vae.Gpu.Kernels;
using Vae.Gpu.Tensors;

namespace Vae.Gpu.Layers;

/// <summary>
/// PyTorch's Conv2d (stride 1, no padding) with its activation fused: weight (Out, In, K, K), bias (Out).
/// Forward caches its input; Backward takes the gradient of the pre-activation output.
/// </summary>
public sealed class Conv2d : ConvolutionLayer
{
    public static IEnumerable<(string, int[])> Specs(string name, int inChannels, int outChannels, int k) => new[]
    {
        ($"{name}.weight", new[] { outChannels, inChannels, k, k }),
        ($"{name}.bias", new[] { outChannels }),
    };

    public Conv2d(ParameterStore store, string name, int inChannels, int outChannels, int k, Activation activation,
        Activation inputActivation = Activation.None)
        : base(store, name, inChannels, outChannels, k, activation, inputActivation) { }

    ConvShape ShapeOf(Tensor x) => new(x.Shape[0], InChannels, OutChannels, x.Shape[2], x.Shape[3], Kernel);

    /// <summary>x (B, In, H, W) -> (B, Out, H-K+1, W-K+1).</summary>
    public override Tensor Forward(Tensor x)
    {
        var s = ShapeOf(x);
        Input = x;
        Output = OutputSpace.Get(s.Batch, OutChannels, s.OutHeight, s.OutWidth);
        Device.Ops.ValidConv(s, x.View, Weight.Value.View, Bias.Value.View, null, EpilogueFlags.Bias | ActivationFlags(Activation), Output.View);
        return Output;
    }

    public override Tensor? Backward(Tensor dPre, bool needInputGrad = true)
    {
        var x = Input ?? throw new InvalidOperationException("Backward before Forward");
        var s = ShapeOf(x);
        var ops = Device.Ops;
        ops.ConvWeightGrad(new WeightGradCall(s, OutChannels, BiasFromInput: false), dPre.View, x.View, WeightThenBiasGrad.View);
        if (!needInputGrad) return null;

        // dx = full convolution of dPre with w: a valid one on dPre padded by K-1 with w flipped.
        int pad = Kernel - 1;
        var dx = InputGradSpace.Get(x.Shape);
        var full = new ConvShape(s.Batch, OutChannels, InChannels, s.OutHeight + 2 * pad, s.OutWidth + 2 * pad, Kernel);
        ops.Conv(new ConvCall(full, pad, Flipped: true, MaskFlags), dPre.View, Weight.Value.View, null, InputMask?.View, dx.View);
        return dx;
    }
}
