using ILGPU;
using ILGPU.Runtime;
using static Vae.Gpu.Kernels.KernelIndex;

namespace Vae.Gpu.Kernels;

public static partial class ConvKernels
{
    /// <summary>
    /// output (planes, H+2p, W+2p) = input (planes, H, W) surrounded by p zeros, so that a "full"
    /// convolution becomes a valid one. One thread per output element.
    /// </summary>
    public static void Pad(Index1D index, int stride, ArrayView<float> input, int height, int width, int pad, ArrayView<float> output)
    {
        int pw = width + 2 * pad, ph = height + 2 * pad;
        for (int i = index; i < output.IntLength; i += stride)
        {
            int t = i;
            int x = t % pw - pad; t /= pw;
            int y = t % ph - pad;
            int plane = t / ph;
            output[i] = x >= 0 && x < width && y >= 0 && y < height
                ? input[(plane * height + y) * width + x]
                : 0f;
        }
    }

    /// <summary>
    /// <see cref="Pad"/> for CPUs: a work-item per output row, whose copy is a unit-stride loop that a vectorizer
    /// takes (Pad's index arithmetic per element ran several times slower than the copy on PoCL).
    /// </summary>
    [CpuOnly]
    public static void PadRows(Index1D index, int stride, ArrayView<float> input, int planes, int height, int width, int pad, ArrayView<float> output)
    {
        int pw = width + 2 * pad, ph = height + 2 * pad;
        for (int r = index; r < planes * ph; r += stride)
        {
            int y = r % ph - pad, plane = r / ph, at = r * pw;
            if (y < 0 || y >= height)
            {
                for (int x = 0; x < pw; x++) output[at + x] = 0f;
                continue;
            }
            int from = (plane * height + y) * width;
            for (int x = 0; x < pad; x++) output[at + x] = 0f;
            for (int x = 0; x < width; x++) output[at + pad + x] = input[from + x];
            for (int x = 0; x < pad; x++) output[at + pad + width + x] = 0f;
        }
    }

    /// <summary>output[q, p, u, v] = weight[p, q, K-1-u, K-1-v] for weight (P, Q, K, K).</summary>
    public static void FlipTranspose(Index1D index, int stride, ArrayView<float> weight, int p, int q, int k, ArrayView<float> output)
    {
        for (int i = index; i < output.IntLength; i += stride)
        {
            int t = i;
            int v = t % k; t /= k;
            int u = t % k; t /= k;
            int pi = t % p;
            int qi = t / p;
            output[i] = weight[((pi * q + qi) * k + (k - 1 - u)) * k + (k - 1 - v)];
        }
    }

}
