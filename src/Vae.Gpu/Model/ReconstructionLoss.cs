using Vae.Gpu.Devices;
using Vae.Gpu.Layers;
using Vae.Gpu.Tensors;

namespace Vae.Gpu.Model;

/// <summary>
/// The problem set's RLoss, summed binary cross-entropy of the reconstruction y = sigmoid(logits) against the
/// images x, and the one owner of its fusion with the decoder's final Sigmoid: forward writes the BCE's fixed
/// partial sums, backward returns the gradient at the logits (BCE's and the sigmoid's backward in one pass).
/// </summary>
public sealed class ReconstructionLoss : IDisposable
{
    readonly ComputeDevice _device;
    readonly Workspace _dLogits;
    Tensor? _x, _y;

    public ReconstructionLoss(ComputeDevice device)
    {
        _device = device;
        _dLogits = new(device);
        Partials = Tensor.Zeros(device, device.Ops.LossPartials);
    }

    /// <summary>The BCE's partial sums of the last <see cref="Forward"/> (their fixed-order total is the loss).</summary>
    public Tensor Partials { get; }

    /// <summary>x, y (B, C, H, W): the BCE's partial sums into <see cref="Partials"/>; x and y kept for backward.</summary>
    public Tensor Forward(Tensor x, Tensor y)
    {
        _device.Ops.BcePartials(x.View, y.View, Partials.View);
        _x = x; _y = y;
        return Partials;
    }

    /// <summary>The gradient of the last Forward's summed BCE at the logits of the sigmoid that made y.</summary>
    public Tensor Backward()
    {
        if (_x is null || _y is null) throw new InvalidOperationException("Backward before Forward");
        var dLogits = _dLogits.Get(_y.Shape);
        _device.Ops.BceSigmoidBackward(_x.View, _y.View, dLogits.View);
        return dLogits;
    }

    public void Dispose()
    {
        _dLogits.Dispose();
        Partials.Dispose();
    }
}
