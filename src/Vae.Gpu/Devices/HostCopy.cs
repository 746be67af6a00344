using ILGPU;
using ILGPU.Runtime;

namespace Vae.Gpu.Devices;

/// <summary>
/// Copies between host memory and a device buffer, ordered with the launches around them and with the host memory
/// pinned for the whole copy: ILGPU's <c>ref</c> overloads do not pin, and an asynchronous copy (CUDA, ILGPU's CPU
/// accelerator) could otherwise read or write an array the garbage collector has moved. Host copies happen outside
/// training steps, so the waits cost nothing there.
/// </summary>
public static class HostCopy
{
    /// <summary>view = data; waits before (a queued launch may still use the buffer) and after (the next launch must see the data).</summary>
    public static unsafe void Upload<T>(this ComputeDevice device, ArrayView<T> view, ReadOnlySpan<T> data) where T : unmanaged
    {
        if (data.Length != view.Length) throw new ArgumentException($"expected {view.Length} values, got {data.Length}");
        device.Synchronize();
        if (data.Length == 0) return;
        fixed (T* p = data)
        {
            view.CopyFromCPU(ref *p, data.Length);
            device.Synchronize();
        }
    }

    /// <summary>data = view, after every queued launch that may write the buffer.</summary>
    public static unsafe void Download<T>(this ComputeDevice device, ArrayView<T> view, Span<T> data) where T : unmanaged
    {
        if (data.Length != view.Length) throw new ArgumentException($"expected {view.Length} values, got {data.Length}");
        device.Synchronize();
        if (data.Length == 0) return;
        fixed (T* p = data)
        {
            view.CopyToCPU(ref *p, data.Length);
            device.Synchronize();
        }
    }
}
