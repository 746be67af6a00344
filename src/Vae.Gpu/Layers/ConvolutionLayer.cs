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
    public Activation Activation { get; }
    public Parameter Weight { get; }
    public Parameter Bias { get; }
    public Tensor? Output { get; protected set; }
    /// <summary>The weight's gradient and the bias's after it (declared adjacent): one launch fills both.</summary>
    protected Tensor WeightThenBiasGrad { get; }

    protected ConvolutionLayer(ParameterStore store, string name, int inChannels, int outChannels, int k, Activation activation)
    {
        Device = store.Device;
        InChannels = inChannels; OutChannels = outChannels; Kernel = k; Activation = activation;
        Weight = store[$"{name}.weight"]; Bias = store[$"{name}.bias"];
        WeightThenBiasGrad = store.Joined(new[] { Weight.Length + Bias.Length }, Weight, Bias).Grad;
        OutputSpace = new(Device); InputGradSpace = new(Device);
    }

    public abstract Tensor Forward(Tensor x);

    /// <summary>
    /// Sets the weight and bias gradients from dPre, the gradient of the pre-activation output, and returns
    /// the input gradient (masked by <paramref name="inputReluOutput"/> when the input came out of a ReLU),
    /// or null when <paramref name="needInputGrad"/> is false (the first layer).
    /// </summary>
    public abstract Tensor? Backward(Tensor dPre, bool needInputGrad, Tensor? inputReluOutput = null);

    protected static EpilogueFlags MaskFlags(Tensor? inputReluOutput) =>
        inputReluOutput is null ? EpilogueFlags.None : EpilogueFlags.MaskPositive;

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
