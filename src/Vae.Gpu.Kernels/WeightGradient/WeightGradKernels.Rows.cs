using ILGPU;
using ILGPU.Runtime;
using static Vae.Gpu.Kernels.KernelIndex;

namespace Vae.Gpu.Kernels;

public static partial class WeightGradKernels
{
    /// <summary>Weight-gradient version 2's tile: gradient-side channels per work-item (x 3 taps of one kernel row).</summary>
    public const int GradRowChannels = 4;

    public static int RowsThreads(ConvShape s, int chunks) =>
        DivUp(s.OutChannels, GradRowChannels) * s.InChannels * s.Kernel * chunks;

    /// <summary>
    /// Version 2 of <see cref="Tiled"/> (same result layout), for CPUs behind OpenCL like conv v4:
    /// a work-item owns 4 gradient-side channels o, one input channel i, one kernel row u and one chunk of
    /// the batch, and keeps per-column sums for three taps (v, v+1, v+2) in a private array; its innermost
    /// loop runs over <see cref="ConvKernels.RowLanes"/> columns (SIMD). At the end each column array is summed in column
    /// order, so the result is the same on every rerun.
    /// </summary>
    public static void Rows(Index1D index, int stride, WeightGradArgs args)
    {
        ConvShape s = args.Shape;
        int chunks = args.Chunks, biasChannels = args.BiasChannels, biasPlane = args.BiasPlane;
        ArrayView<float> grad = args.Grad, input = args.Input, biasSource = args.BiasSource, partials = args.Partials;
        int chunkStride = s.WeightLength + biasChannels;
        var acc = LocalMemory.Allocate<float>(GradRowChannels * 3 * ConvKernels.RowLanes);
        int k = s.Kernel, kk = k * k, oc = s.OutChannels, ic = s.InChannels;
        int ho = s.OutHeight, wo = s.OutWidth, h = s.InHeight, w = s.InWidth, oTiles = DivUp(oc, GradRowChannels);
        int perChunk = DivUp(s.Batch, chunks);
        for (int item = index; item < RowsThreads(s, chunks); item += stride)
        {
            int t = item;
            int u = t % k; t /= k;
            int i = t % ic; t /= ic;
            int o0 = (t % oTiles) * GradRowChannels;
            int chunk = t / oTiles;
            int bStart = chunk * perChunk, bEnd = Min(bStart + perChunk, s.Batch);
            int c1 = Min(o0 + 1, oc - 1), c2 = Min(o0 + 2, oc - 1), c3 = Min(o0 + 3, oc - 1);
            for (int v = 0; v < k; v += 3)
            {
                bool has1 = v + 1 < k, has2 = v + 2 < k;
                for (int j = 0; j < GradRowChannels * 3 * ConvKernels.RowLanes; j++) acc[j] = 0f;
                for (int b = bStart; b < bEnd; b++)
                {
                    int g0 = (b * oc + o0) * ho * wo, g1 = (b * oc + c1) * ho * wo, g2 = (b * oc + c2) * ho * wo, g3 = (b * oc + c3) * ho * wo;
                    int xPlane = ((b * ic + i) * h + u) * w + v;
                    for (int y = 0; y < ho; y++)
                    {
                        int gy = y * wo, xy = xPlane + y * w;
                        for (int x = 0; x < ConvKernels.RowLanes; x++)
                        {
                            bool inRow = x < wo;
                            float q0 = inRow ? grad[g0 + gy + x] : 0f, q1 = inRow ? grad[g1 + gy + x] : 0f;
                            float q2 = inRow ? grad[g2 + gy + x] : 0f, q3 = inRow ? grad[g3 + gy + x] : 0f;
                            float p0 = inRow ? input[xy + x] : 0f;
                            float p1 = inRow && has1 ? input[xy + x + 1] : 0f;
                            float p2 = inRow && has2 ? input[xy + x + 2] : 0f;
                            acc[x] += q0 * p0; acc[ConvKernels.RowLanes + x] += q0 * p1; acc[2 * ConvKernels.RowLanes + x] += q0 * p2;
                            acc[3 * ConvKernels.RowLanes + x] += q1 * p0; acc[4 * ConvKernels.RowLanes + x] += q1 * p1; acc[5 * ConvKernels.RowLanes + x] += q1 * p2;
                            acc[6 * ConvKernels.RowLanes + x] += q2 * p0; acc[7 * ConvKernels.RowLanes + x] += q2 * p1; acc[8 * ConvKernels.RowLanes + x] += q2 * p2;
                            acc[9 * ConvKernels.RowLanes + x] += q3 * p0; acc[10 * ConvKernels.RowLanes + x] += q3 * p1; acc[11 * ConvKernels.RowLanes + x] += q3 * p2;
                        }
                    }
                }
                int baseOffset = chunk * chunkStride;
                for (int c = 0; c < GradRowChannels; c++)
                {
                    int o = o0 + c;
                    if (o >= oc) break;
                    for (int j = 0; j < 3 && v + j < k; j++)
                    {
                        float sum = 0;
                        int a = (c * 3 + j) * ConvKernels.RowLanes;
                        for (int x = 0; x < ConvKernels.RowLanes; x++) sum += acc[a + x];
                        partials[baseOffset + (o * ic + i) * kk + u * k + v + j] = sum;
                    }
                }
            }
        }
        BiasPartials(index, stride, s.Batch, chunks, chunkStride, s.WeightLength, biasSource, biasChannels, biasPlane, partials);
    }
}
