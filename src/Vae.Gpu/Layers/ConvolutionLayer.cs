using Vae.Gpu.Devices;
using Vae.Gpu.Kernels;
using Vae.Gpu.Tensors;

namespace Vae.Gpu.Layers;

/// <summary>What Conv2d and ConvTranspose2d share: sizes, parameters, the cached input and the workspaces.</summary>
public abstract class ConvolutionLayer : IDisposable
{
    protected readonly ComputeDevice Device;
    protected readonly Workspace OutputSpace, InputGradSpace;
    protected Tensor? Input;

    public int InChannels { get; }
    public int OutChannels { get; }
    public int Kernel { get; }
    /// <summary>The activation this layer applies to its output (fused into its forward).</summary>
    public Activation Activation { get; }
    /// <summary>The activation that produced this layer's input (the layer before it). Its backward (ReLU's mask,
    /// read from the input this layer keeps) is fused into this layer's input gradient, so Backward returns the
    /// gradient at the layer before's pre-activation and no mask is passed between layers.</summary>
    public Activation InputActivation { get; }
    public Parameter Weight { get; }
    public Parameter Bias { get; }
    public Tensor? Output { get; protected set; }
    /// <summary>The weight's gradient and the bias's after it (declared adjacent): one launch fills both.</summary>
    protected Tensor WeightThenBiasGrad { get; }

    protected ConvolutionLayer(ParameterStore store, string name, int inChannels, int outChannels, int k, Activation activation, Activation inputActivation)
    {
        if (inputActivation is not (Activation.None or Activation.Relu))
            throw new ArgumentException($"only a ReLU's backward is fused into an input gradient, not {inputActivation}", nameof(inputActivation));
        Device = store.Device;
        InChannels = inChannels; OutChannels = outChannels; Kernel = k; Activation = activation; InputActivation = inputActivation;
        Weight = store[$"{name}.weight"]; Bias = store[$"{name}.bias"];
        WeightThenBiasGrad = store.Joined(new[] { Weight.Length + Bias.Length }, Weight, Bias).Grad;
        OutputSpace = new(Device); InputGradSpace = new(Device);
    }

    public abstract Tensor Forward(Tensor x);

    /// <summary>
    /// Sets the weight and bias gradients from dPre, the gradient of this layer's pre-activation output, and
    /// returns the gradient at the input's pre-activation (through <see cref="InputActivation"/>), or null when
    /// <paramref name="needInputGrad"/> is false (the first layer).
    /// </summary>
    public abstract Tensor? Backward(Tensor dPre, bool needInputGrad = true);

    /// <summary>The input, as the mask of <see cref="InputActivation"/>'s backward (null when it has none).</summary>
    protected Tensor? InputMask => InputActivation == Activation.Relu ? Input : null;

    protected EpilogueFlags MaskFlags => InputActivation == Activation.Relu ? EpilogueFlags.MaskPositive : EpilogueFlags.None;

    internal static EpilogueFlags ActivationFlags(Activation a) => a switch
    {
        Activation.Relu => EpilogueFlags.Relu,
        Activation.Sigmoid => EpilogueFlags.Sigmoid,
        _ => EpilogueFlags.None,
    };

    public void Dispose()
    {
        OutputSpace.Dispose(); InputGradSpace.Dispose();
        GC.SuppressFinalize(this);
    }
}
