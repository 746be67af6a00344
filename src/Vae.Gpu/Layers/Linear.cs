using Vae.Gpu.Devices;
using Vae.Gpu.Kernels;
using Vae.Gpu.Tensors;

namespace Vae.Gpu.Layers;

/// <summary>PyTorch's Linear, y = x W^T + b with W (Out, In), activation fused; every product is one GEMM.</summary>
public sealed class Linear : IDisposable
{
    readonly ComputeDevice _device;
    readonly Workspace _output, _inputGrad;
    Tensor? _input;

    public int InFeatures { get; }
    public int OutFeatures { get; }
    public Activation Activation { get; }
    /// <summary>The activation that produced the input; its backward (ReLU's mask) is fused into the input gradient.</summary>
    public Activation InputActivation { get; }
    public Parameter Weight { get; }
    public Parameter Bias { get; }
    public Tensor? Output { get; private set; }

    public static IEnumerable<(string, int[])> Specs(string name, int inFeatures, int outFeatures) =>
        Specs(new[] { name }, inFeatures, outFeatures);

    /// <summary>
    /// Several layers of one input declared so they run as one (their weights one after another, then their
    /// biases): each keeps its own name, and the product of all is one GEMM with their outputs side by side.
    /// </summary>
    public static IEnumerable<(string, int[])> Specs(string[] names, int inFeatures, int outFeatures) =>
        names.Select(n => ($"{n}.weight", new[] { outFeatures, inFeatures }))
            .Concat(names.Select(n => ($"{n}.bias", new[] { outFeatures })));

    public Linear(ParameterStore store, string name, int inFeatures, int outFeatures, Activation activation, Activation inputActivation = Activation.None)
        : this(store, new[] { name }, inFeatures, outFeatures, activation, inputActivation) { }

    /// <summary>The layers <paramref name="names"/> (declared by <see cref="Specs(string[], int, int)"/>) as one, of
    /// names.Length x <paramref name="outFeatures"/> outputs: layer j's are columns j*out .. (j+1)*out-1.</summary>
    public Linear(ParameterStore store, string[] names, int inFeatures, int outFeatures, Activation activation, Activation inputActivation = Activation.None)
    {
        if (inputActivation is not (Activation.None or Activation.Relu))
            throw new ArgumentException($"only a ReLU's backward is fused into an input gradient, not {inputActivation}", nameof(inputActivation));
        _device = store.Device;
        InFeatures = inFeatures; OutFeatures = outFeatures * names.Length; Activation = activation; InputActivation = inputActivation;
        Weight = store.Joined(new[] { OutFeatures, inFeatures }, names.Select(n => store[$"{n}.weight"]).ToArray());
        Bias = store.Joined(new[] { OutFeatures }, names.Select(n => store[$"{n}.bias"]).ToArray());
        _output = new(_device); _inputGrad = new(_device);
    }

    /// <summary>x (B, In) (any shape whose trailing axes hold In values) -> (B, Out).</summary>
    public Tensor Forward(Tensor x)
    {
        int b = x.Shape[0];
        _input = x;
        Output = _output.Get(b, OutFeatures);
        // A[b, f] = x[b * In + f]; B[f, o] = W[o * In + f].
        var s = new GemmShape(b, OutFeatures, InFeatures, InFeatures, 1, 1, InFeatures);
        _device.Ops.Gemm(s, x.View, Weight.Value.View, Bias.Value.View, null, EpilogueFlags.Bias | ConvolutionLayer.ActivationFlags(Activation), Output.View);
        return Output;
    }

    /// <summary>
    /// Sets dW = dPre^T x and db = sum dPre over the batch, where dPre is the gradient of the pre-activation
    /// output, and returns dx (B, In) = dPre W through <see cref="InputActivation"/> (null when not
    /// <paramref name="needInputGrad"/>).
    /// </summary>
    public Tensor? Backward(Tensor dPre, bool needInputGrad = true)
    {
        var x = _input ?? throw new InvalidOperationException("Backward before Forward");
        int b = x.Shape[0];
        // dW[o, f] = sum_b dPre[b, o] x[b, f]: A[o, b] = dPre[b * Out + o], B[b, f] = x[b * In + f].
        var weightGrad = new GemmShape(OutFeatures, InFeatures, b, 1, OutFeatures, InFeatures, 1);
        _device.Ops.LinearParameterGrads(weightGrad, dPre.View, x.View, Weight.Grad.View, Bias.Grad.View);
        if (!needInputGrad) return null;
        var dx = _inputGrad.Get(b, InFeatures);
        var mask = InputActivation == Activation.Relu ? x : null;
        var inputGrad = new GemmShape(b, InFeatures, OutFeatures, OutFeatures, 1, InFeatures, 1);
        _device.Ops.Gemm(inputGrad, dPre.View, Weight.Value.View, null, mask?.View, mask is null ? EpilogueFlags.None : EpilogueFlags.MaskPositive, dx.View);
        return dx;
    }

    public void Dispose()
    {
        _output.Dispose(); _inputGrad.Dispose();
    }
}
