using Vae.Gpu.Devices;
using Vae.Gpu.Tensors;

namespace Vae.Gpu.Layers;

/// <summary>
/// A device buffer that grows to the largest shape asked of it and hands out views of the current shape,
/// so a training step allocates nothing once the first (largest) batch has run.
/// </summary>
public sealed class Workspace : IDisposable
{
    readonly ComputeDevice _device;
    Tensor? _buffer;

    public Workspace(ComputeDevice device) => _device = device;

    public Tensor Get(params int[] shape)
    {
        int n = shape.Aggregate(1, (a, b) => a * b);
        if (_buffer is null || _buffer.Length < n)
        {
            // Launches still queued may use the old buffer: wait before freeing it (only while growing).
            if (_buffer is not null) { _device.Synchronize(); _buffer.Dispose(); }
            _buffer = Tensor.Zeros(_device, n);
        }
        var view = _buffer.Slice(0, shape);
        if (_device.PoisonWorkspaces) view.Poison();
        return view;
    }

    public void Dispose() => _buffer?.Dispose();
}
