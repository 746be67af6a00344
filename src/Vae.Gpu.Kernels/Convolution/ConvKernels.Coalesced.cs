using ILGPU;
using ILGPU.Runtime;
using static Vae.Gpu.Kernels.KernelIndex;

namespace Vae.Gpu.Kernels;

public static partial class ConvKernels
{
    /// <summary>Output channels each work-item of <see cref="Coalesced"/> keeps in registers.</summary>
    public const int CoalescedChannels = 8;

    public static int CoalescedThreads(ConvShape s) =>
        s.Batch * DivUp(s.OutChannels, CoalescedChannels) * s.OutHeight * s.OutWidth;

    /// <summary>
    /// Version 2 of <see cref="Tiled"/>, shaped for GPUs and for PoCL's vectorizer: work-item = one output
    /// column x of one row, for 8 output channels; neighbouring work-items take neighbouring columns, so
    /// every input load and output store of a warp (or SIMD vector) is contiguous, and the 8 weights of a tap
    /// are the same for all of them (a broadcast). Same maths, epilogue and clamping as version 1.
    /// </summary>
    public static void Coalesced(Index1D index, int stride, ConvArgs a)
    {
        ConvShape s = a.Shape;
        int flags = a.Flags;
        ArrayView<float> input = a.Input, weight = a.Weight, bias = a.Bias, mask = a.Mask, output = a.Output;
        int total = CoalescedThreads(s);
        int ho = s.OutHeight, wo = s.OutWidth, k = s.Kernel, h = s.InHeight, w = s.InWidth, oc = s.OutChannels;
        int chanTiles = DivUp(oc, CoalescedChannels), kk = k * k, wPerOut = s.InChannels * kk;
        for (int item = index; item < total; item += stride)
        {
            int t = item;
            int x = t % wo; t /= wo;
            int y = t % ho; t /= ho;
            int o0 = (t % chanTiles) * CoalescedChannels;
            int b = t / chanTiles;
            int w0 = o0 * wPerOut, w1 = Min(o0 + 1, oc - 1) * wPerOut, w2 = Min(o0 + 2, oc - 1) * wPerOut, w3 = Min(o0 + 3, oc - 1) * wPerOut;
            int w4 = Min(o0 + 4, oc - 1) * wPerOut, w5 = Min(o0 + 5, oc - 1) * wPerOut, w6 = Min(o0 + 6, oc - 1) * wPerOut, w7 = Min(o0 + 7, oc - 1) * wPerOut;
            float a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
            for (int i = 0; i < s.InChannels; i++)
            {
                int plane = ((b * s.InChannels + i) * h + y) * w + x;
                int wi = i * kk;
                for (int u = 0; u < k; u++)
                {
                    for (int v = 0; v < k; v++)
                    {
                        float p = input[plane + u * w + v];
                        int tap = wi + u * k + v;
                        a0 += weight[w0 + tap] * p; a1 += weight[w1 + tap] * p; a2 += weight[w2 + tap] * p; a3 += weight[w3 + tap] * p;
                        a4 += weight[w4 + tap] * p; a5 += weight[w5 + tap] * p; a6 += weight[w6 + tap] * p; a7 += weight[w7 + tap] * p;
                    }
                }
            }
            StoreChannels(output, ((b * oc + o0) * ho + y) * wo + x, ho * wo, o0, oc, a0, a1, a2, a3, a4, a5, a6, a7, bias, mask, flags);
        }
    }


    /// <summary>One output position of 8 consecutive channels o0.. (planes <paramref name="step"/> apart), the
    /// channels past the last skipped: the store of conv v2 and v3.</summary>
    static void StoreChannels(
        ArrayView<float> output, int at, int step, int o0, int oc, float a0, float a1, float a2, float a3,
        float a4, float a5, float a6, float a7, ArrayView<float> bias, ArrayView<float> mask, int flags)
    {
        Epilogue.Store(output, at, a0, o0, bias, mask, flags);
        if (o0 + 1 < oc) Epilogue.Store(output, at + step, a1, o0 + 1, bias, mask, flags);
        if (o0 + 2 < oc) Epilogue.Store(output, at + 2 * step, a2, o0 + 2, bias, mask, flags);
        if (o0 + 3 < oc) Epilogue.Store(output, at + 3 * step, a3, o0 + 3, bias, mask, flags);
        if (o0 + 4 < oc) Epilogue.Store(output, at + 4 * step, a4, o0 + 4, bias, mask, flags);
        if (o0 + 5 < oc) Epilogue.Store(output, at + 5 * step, a5, o0 + 5, bias, mask, flags);
        if (o0 + 6 < oc) Epilogue.Store(output, at + 6 * step, a6, o0 + 6, bias, mask, flags);
        if (o0 + 7 < oc) Epilogue.Store(output, at + 7 * step, a7, o0 + 7, bias, mask, flags);
    }

}
