using System.Runtime.CompilerServices;
using ILGPU;

namespace Vae.Gpu.Kernels;

public static partial class ConvKernels
{
    /// <summary>
    /// The CPU versions' prefetch: work-item <paramref name="part"/> of the <paramref name="parts"/> that compute
    /// image <paramref name="b"/> asks for its share of image b + 1's input, output (to write) and ReLU mask, so
    /// that the next image is in cache when the same core reaches it (the items of an image are consecutive).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void PrefetchNextImage(ConvShape s, int pad, ArrayView<float> input, ArrayView<float> output, ArrayView<float> mask,
        int flags, int b, int part, int parts)
    {
        if (b + 1 >= s.Batch) return;
        int inImage = s.InChannels * (s.InHeight - 2 * pad) * (s.InWidth - 2 * pad);
        int outImage = s.OutChannels * s.OutHeight * s.OutWidth;
        CachePrefetch.Share(input, (b + 1) * inImage, inImage, part, parts);
        CachePrefetch.Share(output, (b + 1) * outImage, outImage, part, parts, true);
        if ((flags & (int)EpilogueFlags.MaskPositive) != 0) CachePrefetch.Share(mask, (b + 1) * outImage, outImage, part, parts);
    }
}
