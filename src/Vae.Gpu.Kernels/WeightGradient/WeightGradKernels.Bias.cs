using ILGPU;
using ILGPU.Runtime;
using static Vae.Gpu.Kernels.KernelIndex;

namespace Vae.Gpu.Kernels;

public static partial class WeightGradKernels
{
    /// <summary>
    /// The bias gradient beside the weight gradient: partials[chunk * chunkStride + at + c] = sum over the
    /// chunk's images and the plane of source (B, channels, plane) channel c, in order. The source is the
    /// gradient side for a convolution and the input side for a transposed one; 0 channels means no bias.
    /// </summary>
    static void BiasPartials(
        int index, int stride, int batch, int chunks, int chunkStride, int at,
        ArrayView<float> source, int channels, int plane, ArrayView<float> partials)
    {
        for (int item = index; item < chunks * channels; item += stride)
            partials[(item / channels) * chunkStride + at + item % channels] = ReductionKernels.ChannelSumOf(item, source, batch, channels, plane, chunks);
    }

    /// <summary><see cref="BiasPartials"/> with each sum in 16 running sums (<see cref="ReductionKernels.LaneChannelSumOf"/>):
    /// the CPU versions 3's and 4's.</summary>
    static void LaneBiasPartials(
        int index, int stride, int batch, int chunks, int chunkStride, int at,
        ArrayView<float> source, int channels, int plane, ArrayView<float> partials)
    {
        for (int item = index; item < chunks * channels; item += stride)
            partials[(item / channels) * chunkStride + at + item % channels] = ReductionKernels.LaneChannelSumOf(item, source, batch, channels, plane, chunks);
    }
}
