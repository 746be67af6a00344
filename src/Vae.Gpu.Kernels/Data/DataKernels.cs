using ILGPU;

namespace Vae.Gpu.Kernels;

public static class DataKernels
{
    /// <summary>
    /// output[j, p] = images[order[first + j], p] / 255: one batch gathered from the uploaded data set and
    /// scaled to [0, 1] on the device.
    /// </summary>
    public static void GatherImages(
        Index1D index, int stride, ArrayView<byte> images, ArrayView<int> order, int first, int pixels, ArrayView<float> output)
    {
        for (int i = index; i < output.IntLength; i += stride)
        {
            int j = i / pixels, p = i - j * pixels;
            output[i] = images[order[first + j] * pixels + p] * (1f / 255f);
        }
    }
}
