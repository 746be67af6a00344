using ILGPU;
using ILGPU.Runtime;
using static Vae.Gpu.Kernels.KernelIndex;

namespace Vae.Gpu.Kernels;

public static partial class ReductionKernels
{
    /// <summary>
    /// partials[c, ch] = sum_{b in chunk c, spatial} grad[b, ch, .]: the bias gradient before the fixed-order
    /// sum over chunks. One thread per (chunk, channel).
    /// </summary>
    public static void ChannelSumPartials(
        Index1D index, int stride, ArrayView<float> grad, int batch, int channels, int plane, int chunks, ArrayView<float> partials)
    {
        for (int i = index; i < chunks * channels; i += stride)
            partials[i] = ChannelSumOf(i, grad, batch, channels, plane, chunks);
    }

    internal static float ChannelSumOf(int index, ArrayView<float> grad, int batch, int channels, int plane, int chunks)
    {
        int ch = index % channels, chunk = index / channels;
        int perChunk = DivUp(batch, chunks);
        int bEnd = Min(chunk * perChunk + perChunk, batch);
        float sum = 0;
        for (int b = chunk * perChunk; b < bEnd; b++)
        {
            int start = (b * channels + ch) * plane;
            for (int j = 0; j < plane; j++) sum += grad[start + j];
        }
        return sum;
    }

}
