using ILGPU;
using ILGPU.Runtime;
using Vae.Gpu.Devices;
using Vae.Gpu.Layers;
using Vae.Gpu.Tensors;

namespace Vae.Gpu.Data;

/// <summary>
/// A split uploaded to the accelerator once, as bytes. Each epoch draws a seeded permutation (one small
/// upload) and batches are gathered and scaled to [0, 1] on the device.
/// </summary>
public sealed class DeviceDataset : IDisposable
{
    readonly ComputeDevice _device;
    readonly MemoryBuffer1D<byte, Stride1D.Dense> _pixels;
    readonly MemoryBuffer1D<int, Stride1D.Dense> _order;
    readonly Workspace _batch;

    public Split Split { get; }
    public int Count => Split.Count;

    public DeviceDataset(ComputeDevice device, Split split)
    {
        _device = device;
        Split = split;
        _pixels = device.Allocate<byte>(split.Pixels.Length);
        device.Upload(_pixels.View, split.Pixels);
        _order = device.Allocate<int>(split.Count);
        _batch = new Workspace(device);
        SetOrder(Enumerable.Range(0, split.Count).ToArray());
    }

    /// <summary>Uses the file order (for evaluation and analysis).</summary>
    public void InFileOrder() => SetOrder(Enumerable.Range(0, Count).ToArray());

    /// <summary>A permutation that depends only on (seed, epoch), so a resumed run sees the same batches.</summary>
    public void Shuffle(int seed, int epoch)
    {
        var order = Enumerable.Range(0, Count).ToArray();
        new Random(unchecked(seed * 1_000_003 + epoch)).Shuffle(order);
        SetOrder(order);
    }

    /// <summary>A new order; gathers still queued read the old one, so they finish first.</summary>
    void SetOrder(int[] order)
    {
        _device.Upload(_order.View, order);
    }

    public int BatchCount(int batchSize) => (Count + batchSize - 1) / batchSize;

    /// <summary>Batch <paramref name="index"/> of the current order as (b, C, H, W) floats; the last may be short.</summary>
    public Tensor Batch(int index, int batchSize)
    {
        int first = index * batchSize, count = Math.Min(batchSize, Count - first);
        var batch = _batch.Get(count, Split.Channels, Split.Height, Split.Width);
        _device.Ops.GatherImages(_pixels.View, _order.View, first, count, Split.PixelsPerImage, batch.View);
        return batch;
    }

    public void Dispose()
    {
        _device.Released(_pixels.LengthInBytes); _pixels.Dispose();
        _device.Released(_order.LengthInBytes); _order.Dispose();
        _batch.Dispose();
    }
}
