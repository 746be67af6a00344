using ILGPU;
using ILGPU.Runtime;
using Vae.Gpu.Devices;

namespace Vae.Gpu.Tensors;

/// <summary>
/// A float32 array on one accelerator with a row-major (NCHW) shape. Either owns its buffer or is a view
/// of another tensor's (parameters are views of one buffer so Adam and zero-grad are single launches).
/// </summary>
public sealed class Tensor : IDisposable
{
    readonly ComputeDevice _device;
    MemoryBuffer1D<float, Stride1D.Dense>? _buffer;

    public ArrayView<float> View { get; }
    public int[] Shape { get; }
    public int Length => (int)View.Length;
    public ComputeDevice Device => _device;

    Tensor(ComputeDevice device, MemoryBuffer1D<float, Stride1D.Dense>? buffer, ArrayView<float> view, int[] shape)
    {
        if (shape.Aggregate(1L, (a, b) => a * b) != view.Length)
            throw new ArgumentException($"shape [{string.Join(",", shape)}] does not hold {view.Length} elements");
        _device = device; _buffer = buffer; View = view; Shape = shape;
    }

    public static Tensor Zeros(ComputeDevice device, params int[] shape)
    {
        long n = shape.Aggregate(1L, (a, b) => a * b);
        var buffer = device.Allocate<float>(n);
        buffer.MemSetToZero();
        // Allocation happens outside training steps; waiting here keeps the zeroing ordered before any
        // host copy or launch on every accelerator.
        device.Synchronize();
        return new Tensor(device, buffer, buffer.View.SubView(0, n), shape);
    }

    public static Tensor FromArray(ComputeDevice device, ReadOnlySpan<float> data, params int[] shape)
    {
        var t = Zeros(device, shape);
        t.CopyFrom(data);
        return t;
    }

    /// <summary>A view of prod(<paramref name="shape"/>) elements starting at <paramref name="offset"/>; owns nothing.</summary>
    public Tensor Slice(int offset, params int[] shape)
    {
        long n = shape.Aggregate(1L, (a, b) => a * b);
        return new Tensor(_device, null, View.SubView(offset, n), shape);
    }

    public Tensor Reshape(params int[] shape) => new(_device, null, View, shape);

    public void CopyFrom(ReadOnlySpan<float> data) => _device.Upload(View, data);

    public float[] ToArray()
    {
        var data = new float[Length];
        _device.Download(View, data);
        return data;
    }

    public void Clear() => View.MemSetToZero();

    /// <summary>Fills with NaN (all bits set), so a test sees any element a kernel failed to write.</summary>
    public void Poison() => View.MemSet((byte)0xFF);

    public string ShapeText => $"[{string.Join(", ", Shape)}]";

    public void Dispose()
    {
        if (_buffer is null) return;
        _device.Released(_buffer.LengthInBytes);
        _buffer.Dispose();
        _buffer = null;
    }
}
