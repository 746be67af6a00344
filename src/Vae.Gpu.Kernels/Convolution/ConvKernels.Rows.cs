using ILGPU;
using ILGPU.Runtime;
using static Vae.Gpu.Kernels.KernelIndex;

namespace Vae.Gpu.Kernels;

public static partial class ConvKernels
{
    /// <summary>Version 4's tile: a work-item keeps <see cref="RowChannels"/> output channels x
    /// <see cref="RowLanes"/> columns of one output row; layers wider than RowLanes use version 2.</summary>
    public const int RowChannels = 8, RowLanes = 32;

    public static int RowsThreads(ConvShape s) => s.Batch * DivUp(s.OutChannels, RowChannels) * s.OutHeight;

    /// <summary>
    /// Version 4, for CPUs behind OpenCL (PoCL): a work-item computes a whole output row (up to
    /// <see cref="RowLanes"/> columns) of <see cref="RowChannels"/> channels, and its innermost loop runs over
    /// the columns with a fixed trip count: out[c, x] += w[c] * in[x + v], independent across x, which LLVM
    /// turns into SIMD FMAs inside the work-item (PoCL does not vectorize across work-items when each runs an
    /// inner loop). Same padding and flipped-weight reading as version 3, same order of the sum as version 2.
    /// A GPU would rather run versions 2 or 3: one thread per row is too little parallelism there.
    /// </summary>
    public static void Rows(Index1D index, int stride, ConvArgs a)
    {
        ConvShape s = a.Shape;
        int pad = a.Pad, flipped = a.Flipped, flags = a.Flags;
        ArrayView<float> input = a.Input, weight = a.Weight, bias = a.Bias, mask = a.Mask, output = a.Output;
        var acc = LocalMemory.Allocate<float>(RowChannels * RowLanes);
        int ho = s.OutHeight, wo = s.OutWidth, k = s.Kernel, kk = k * k, oc = s.OutChannels, ic = s.InChannels;
        int h = s.InHeight - 2 * pad, w = s.InWidth - 2 * pad, chanTiles = DivUp(oc, RowChannels);
        // Tap (i, u, v) of a channel is at base + i * iStep + sign * (u * K + v): (Out, In, K, K) directly, or
        // (In, Out, K, K) rotated 180 degrees when flipped.
        int iStep = flipped != 0 ? oc * kk : kk, sign = flipped != 0 ? -1 : 1;
        for (int item = index; item < RowsThreads(s); item += stride)
        {
            int t = item;
            int y = t % ho; t /= ho;
            int o0 = (t % chanTiles) * RowChannels;
            int b = t / chanTiles;
            // Where channel o0 + c's weights start (channels past OutChannels read the last one's, never
            // stored), so the tap loop below indexes them without a division.
            var cb = ChannelBases.Of(flipped, o0, oc, ic, kk);
            for (int j = 0; j < RowChannels * RowLanes; j++) acc[j] = 0f;
            for (int i = 0; i < ic; i++)
            {
                for (int u = 0; u < k; u++)
                {
                    int iy = y + u - pad;
                    if (iy < 0 || iy >= h) continue;
                    int row = ((b * ic + i) * h + iy) * w;
                    // Three taps of the row per pass over the columns: a third of the accumulator traffic.
                    // Taps past K get weight 0 (and a masked read), so any K works.
                    for (int v = 0; v < k; v += 3)
                    {
                        int tap = u * k + v;
                        bool has1 = v + 1 < k, has2 = v + 2 < k;
                        int at = i * iStep + sign * tap, at1 = at + sign, at2 = at + 2 * sign;
                        float q00 = weight[cb.W0 + at], q01 = has1 ? weight[cb.W0 + at1] : 0f, q02 = has2 ? weight[cb.W0 + at2] : 0f;
                        float q10 = weight[cb.W1 + at], q11 = has1 ? weight[cb.W1 + at1] : 0f, q12 = has2 ? weight[cb.W1 + at2] : 0f;
                        float q20 = weight[cb.W2 + at], q21 = has1 ? weight[cb.W2 + at1] : 0f, q22 = has2 ? weight[cb.W2 + at2] : 0f;
                        float q30 = weight[cb.W3 + at], q31 = has1 ? weight[cb.W3 + at1] : 0f, q32 = has2 ? weight[cb.W3 + at2] : 0f;
                        float q40 = weight[cb.W4 + at], q41 = has1 ? weight[cb.W4 + at1] : 0f, q42 = has2 ? weight[cb.W4 + at2] : 0f;
                        float q50 = weight[cb.W5 + at], q51 = has1 ? weight[cb.W5 + at1] : 0f, q52 = has2 ? weight[cb.W5 + at2] : 0f;
                        float q60 = weight[cb.W6 + at], q61 = has1 ? weight[cb.W6 + at1] : 0f, q62 = has2 ? weight[cb.W6 + at2] : 0f;
                        float q70 = weight[cb.W7 + at], q71 = has1 ? weight[cb.W7 + at1] : 0f, q72 = has2 ? weight[cb.W7 + at2] : 0f;
                        int shift = v - pad;
                        for (int x = 0; x < RowLanes; x++)
                        {
                            int ix = x + shift;
                            bool inRow = x < wo;
                            float p0 = inRow && ix >= 0 && ix < w ? input[row + ix] : 0f;
                            float p1 = inRow && has1 && ix + 1 >= 0 && ix + 1 < w ? input[row + ix + 1] : 0f;
                            float p2 = inRow && has2 && ix + 2 >= 0 && ix + 2 < w ? input[row + ix + 2] : 0f;
                            acc[x] = MulAdd(q02, p2, MulAdd(q01, p1, MulAdd(q00, p0, acc[x])));
                            acc[RowLanes + x] = MulAdd(q12, p2, MulAdd(q11, p1, MulAdd(q10, p0, acc[RowLanes + x])));
                            acc[2 * RowLanes + x] = MulAdd(q22, p2, MulAdd(q21, p1, MulAdd(q20, p0, acc[2 * RowLanes + x])));
                            acc[3 * RowLanes + x] = MulAdd(q32, p2, MulAdd(q31, p1, MulAdd(q30, p0, acc[3 * RowLanes + x])));
                            acc[4 * RowLanes + x] = MulAdd(q42, p2, MulAdd(q41, p1, MulAdd(q40, p0, acc[4 * RowLanes + x])));
                            acc[5 * RowLanes + x] = MulAdd(q52, p2, MulAdd(q51, p1, MulAdd(q50, p0, acc[5 * RowLanes + x])));
                            acc[6 * RowLanes + x] = MulAdd(q62, p2, MulAdd(q61, p1, MulAdd(q60, p0, acc[6 * RowLanes + x])));
                            acc[7 * RowLanes + x] = MulAdd(q72, p2, MulAdd(q71, p1, MulAdd(q70, p0, acc[7 * RowLanes + x])));
                        }
                    }
                }
            }
            for (int c = 0; c < RowChannels; c++)
            {
                int o = o0 + c;
                if (o >= oc) break;
                Epilogue.StoreRow(output, ((b * oc + o) * ho + y) * wo, acc, c * RowLanes, wo, o, 0, bias, mask, flags);
            }
        }
    }
}
