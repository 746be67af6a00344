using Vae.Gpu.Devices;
using Vae.Gpu.Kernels;
using Vae.Gpu.Tensors;

namespace Vae.Gpu.Layers;

/// <summary>
/// PyTorch's ConvTranspose2d (stride 1, no padding) with its activation fused: weight (In, Out, K, K) as
/// PyTorch lays it out, bias (Out). Output side is H+K-1.
/// </summary>
public sealed class ConvTranspose2d : IDisposable
{
    readonly ComputeDevice _device;
    readonly Workspace _output, _inputGrad, _padded, _flipped;
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
        ($"{name}.weight", new[] { inChannels, outChannels, k, k }),
        ($"{name}.bias", new[] { outChannels }),
    };

    public ConvTranspose2d(ParameterStore store, string name, int inChannels, int outChannels, int k, Activation activation)
    {
        _device = store.Device;
        InChannels = inChannels; OutChannels = outChannels; Kernel = k; Activation = activation;
        Weight = store[$"{name}.weight"]; Bias = store[$"{name}.bias"];
        _output = new(_device); _inputGrad = new(_device); _padded = new(_device); _flipped = new(_device);
    }

    /// <summary>x (B, In, H, W) -> (B, Out, H+K-1, W+K-1): a valid convolution of x padded by K-1 with w flipped.</summary>
    public Tensor Forward(Tensor x)
    {
        int b = x.Shape[0], h = x.Shape[2], w = x.Shape[3], pad = Kernel - 1;
        _input = x;
        var ops = _device.Ops;
        var padded = _padded.Get(b, InChannels, h + 2 * pad, w + 2 * pad);
        ops.Pad(x.View, b * InChannels, h, w, pad, padded.View);
        var flipped = _flipped.Get(OutChannels, InChannels, Kernel, Kernel);
        ops.FlipTranspose(Weight.Value.View, InChannels, OutChannels, Kernel, flipped.View);
        Output = _output.Get(b, OutChannels, h + pad, w + pad);
        ops.ValidConv(new ConvShape(b, InChannels, OutChannels, h + 2 * pad, w + 2 * pad, Kernel), padded.View, flipped.View,
            Bias.Value.View, null, EpilogueFlags.Bias | Conv2d.ActivationFlags(Activation), Output.View);
        return Output;
    }

    /// <summary>Same contract as <see cref="Conv2d.Backward"/>.</summary>
    public Tensor? Backward(Tensor dPre, bool needInputGrad, Tensor? inputReluOutput = null)
    {
        var x = _input ?? throw new InvalidOperationException("Backward before Forward");
        int b = x.Shape[0], h = x.Shape[2], w = x.Shape[3], ho = h + Kernel - 1, wo = w + Kernel - 1;
        var ops = _device.Ops;
        // dW[i, o, u, v] = sum x[b, i, y, x] * dPre[b, o, y+u, x+v]: the weight-gradient kernel with x as the
        // "gradient" side (In channels, H x W) and dPre as the "input" side (Out channels, Ho x Wo).
        var swapped = new ConvShape(b, OutChannels, InChannels, ho, wo, Kernel);
        ops.ConvWeightGrad(swapped, x.View, dPre.View, Weight.Grad.View);
        ops.ChannelSum(dPre.View, b, OutChannels, ho * wo, Bias.Grad.View);
        if (!needInputGrad) return null;
        // dx[b, i] = valid convolution of dPre with w read as (In = "out", Out = "in", K, K): no flip needed.
        var dx = _inputGrad.Get(x.Shape);
        ops.ValidConv(swapped, dPre.View, Weight.Value.View, null, inputReluOutput?.View,
            inputReluOutput is null ? EpilogueFlags.None : EpilogueFlags.MaskPositive, dx.View);
        return dx;
    }

    public void Dispose()
    {
        _output.Dispose(); _inputGrad.Dispose(); _padded.Dispose(); _flipped.Dispose();
    }
}
