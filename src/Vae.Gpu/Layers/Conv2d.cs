using Vae.Gpu.Devices;
using Vae.Gpu.Kernels;
using Vae.Gpu.Tensors;

namespace Vae.Gpu.Layers;

/// <summary>
/// PyTorch's Conv2d (stride 1, no padding) with its activation fused: weight (Out, In, K, K), bias (Out).
/// Forward caches its input; Backward takes the gradient of the pre-activation output.
/// </summary>
public sealed class Conv2d : IDisposable
{
    readonly ComputeDevice _device;
    readonly Workspace _output, _inputGrad, _paddedGrad, _flipped;
    Tensor? _input;

    public int InChannels { get; }
    public int OutChannels { get; }
    public int Kernel { get; }
    public Activation Activation { get; }
    public Parameter Weight { get; }
    public Parameter Bias { get; }
    public Tensor? Output { get; private set; }

    public static IEnumerable<(string, int[])> Specs(string name, int inChannels, int outChannels, int k) => new[]
    {
        ($"{name}.weight", new[] { outChannels, inChannels, k, k }),
        ($"{name}.bias", new[] { outChannels }),
    };

    public Conv2d(ParameterStore store, string name, int inChannels, int outChannels, int k, Activation activation)
    {
        _device = store.Device;
        InChannels = inChannels; OutChannels = outChannels; Kernel = k; Activation = activation;
        Weight = store[$"{name}.weight"]; Bias = store[$"{name}.bias"];
        _output = new(_device); _inputGrad = new(_device); _paddedGrad = new(_device); _flipped = new(_device);
    }

    ConvShape ShapeOf(Tensor x) => new(x.Shape[0], InChannels, OutChannels, x.Shape[2], x.Shape[3], Kernel);

    /// <summary>x (B, In, H, W) -> (B, Out, H-K+1, W-K+1).</summary>
    public Tensor Forward(Tensor x)
    {
        var s = ShapeOf(x);
        _input = x;
        Output = _output.Get(s.Batch, OutChannels, s.OutHeight, s.OutWidth);
        _device.Ops.ValidConv(s, x.View, Weight.Value.View, Bias.Value.View, null, EpilogueFlags.Bias | ActivationFlags(Activation), Output.View);
        return Output;
    }

    /// <summary>
    /// Sets the weight and bias gradients from dPre, the gradient of the pre-activation output, and returns
    /// the input gradient (masked by <paramref name="inputReluOutput"/> when the input came out of a ReLU),
    /// or null when <paramref name="needInputGrad"/> is false (the first layer).
    /// </summary>
    public Tensor? Backward(Tensor dPre, bool needInputGrad, Tensor? inputReluOutput = null)
    {
        var x = _input ?? throw new InvalidOperationException("Backward before Forward");
        var s = ShapeOf(x);
        var ops = _device.Ops;
        ops.ConvWeightGrad(new ConvShape(s.Batch, InChannels, OutChannels, s.InHeight, s.InWidth, Kernel), dPre.View, x.View, Weight.Grad.View);
        ops.ChannelSum(dPre.View, s.Batch, OutChannels, s.OutHeight * s.OutWidth, Bias.Grad.View);
        if (!needInputGrad) return null;

        // dx = full convolution of dPre with w, as a valid one on dPre padded by K-1 with w flipped.
        int pad = Kernel - 1, ph = s.OutHeight + 2 * pad, pw = s.OutWidth + 2 * pad;
        var padded = _paddedGrad.Get(s.Batch, OutChannels, ph, pw);
        ops.Pad(dPre.View, s.Batch * OutChannels, s.OutHeight, s.OutWidth, pad, padded.View);
        var flipped = _flipped.Get(InChannels, OutChannels, Kernel, Kernel);
        ops.FlipTranspose(Weight.Value.View, OutChannels, InChannels, Kernel, flipped.View);
        var dx = _inputGrad.Get(x.Shape);
        ops.ValidConv(new ConvShape(s.Batch, OutChannels, InChannels, ph, pw, Kernel), padded.View, flipped.View, null,
            inputReluOutput?.View, inputReluOutput is null ? EpilogueFlags.None : EpilogueFlags.MaskPositive, dx.View);
        return dx;
    }

    internal static EpilogueFlags ActivationFlags(Activation a) => a switch
    {
        Activation.Relu => EpilogueFlags.Relu,
        Activation.Sigmoid => EpilogueFlags.Sigmoid,
        _ => EpilogueFlags.None,
    };

    public void Dispose()
    {
        _output.Dispose(); _inputGrad.Dispose(); _paddedGrad.Dispose(); _flipped.Dispose();
    }
}
