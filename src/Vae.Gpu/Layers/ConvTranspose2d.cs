using Vae.Gpu.Kernels;
using Vae.Gpu.Tensors;

namespace Vae.Gpu.Layers;

/// <summary>
/// PyTorch's ConvTranspose2d (stride 1, no padding) with its activation fused: weight (In, Out, K, K) as
/// PyTorch lays it out, bias (Out). Output side is H+K-1.
/// </summary>
public sealed class ConvTranspose2d : ConvolutionLayer
{
    public static IEnumerable<(string, int[])> Specs(string name, int inChannels, int outChannels, int k) => new[]
    {
        ($"{name}.weight", new[] { inChannels, outChannels, k, k }),
        ($"{name}.bias", new[] { outChannels }),
    };

    public ConvTranspose2d(ParameterStore store, string name, int inChannels, int outChannels, int k, Activation activation,
        Activation inputActivation = Activation.None)
        : base(store, name, inChannels, outChannels, k, activation, inputActivation) { }

    /// <summary>x (B, In, H, W) -> (B, Out, H+K-1, W+K-1): a valid convolution of x padded by K-1 with w flipped.</summary>
    public override Tensor Forward(Tensor x)
    {
        int b = x.Shape[0], h = x.Shape[2], w = x.Shape[3], pad = Kernel - 1;
        Input = x;
        Output = OutputSpace.Get(b, OutChannels, h + pad, w + pad);
        var full = new ConvShape(b, InChannels, OutChannels, h + 2 * pad, w + 2 * pad, Kernel);
        Device.Ops.Conv(new ConvCall(full, pad, Flipped: true, EpilogueFlags.Bias | ActivationFlags(Activation)), x.View, Weight.Value.View,
            Bias.Value.View, null, Output.View);
        return Output;
    }

    public override Tensor? Backward(Tensor dPre, bool needInputGrad = true)
    {
        var x = Input ?? throw new InvalidOperationException("Backward before Forward");
        int b = x.Shape[0], h = x.Shape[2], w = x.Shape[3], ho = h + Kernel - 1, wo = w + Kernel - 1;
        var ops = Device.Ops;
        // dW[i, o, u, v] = sum x[b, i, y, x] * dPre[b, o, y+u, x+v]: the weight-gradient kernel with x as the
        // "gradient" side (In channels, H x W) and dPre as the "input" side (Out channels, Ho x Wo).
        var swapped = new ConvShape(b, OutChannels, InChannels, ho, wo, Kernel);
        ops.ConvWeightGrad(new WeightGradCall(swapped, OutChannels, BiasFromInput: true), x.View, dPre.View, WeightThenBiasGrad.View);
        if (!needInputGrad) return null;
        // dx[b, i] = valid convolution of dPre with w read as (In = "out", Out = "in", K, K): no flip needed.
        var dx = InputGradSpace.Get(x.Shape);
        ops.ValidConv(swapped, dPre.View, Weight.Value.View, null, InputMask?.View, MaskFlags, dx.View);
        return dx;
    }
}
