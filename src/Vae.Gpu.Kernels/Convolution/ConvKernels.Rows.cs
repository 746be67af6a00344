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
    public static void Rows(
        Index1D index, int stride, ConvShape s, int pad, int flipped, ArrayView<float> input, ArrayView<float> weight,
        ArrayView<float> bias, ArrayView<float> mask, int flags, ArrayView<float> output)
    {
        var acc = LocalMemory.Allocate<float>(RowChannels * RowLanes);
        int ho = s.OutHeight, wo = s.OutWidth, k = s.Kernel, kk = k * k, oc = s.OutChannels, ic = s.InChannels;
        int h = s.InHeight - 2 * pad, w = s.InWidth - 2 * pad, chanTiles = DivUp(oc, RowChannels);
        for (int item = index; item < RowsThreads(s); item += stride)
        {
            int t = item;
            int y = t % ho; t /= ho;
            int o0 = (t % chanTiles) * RowChannels;
            int b = t / chanTiles;
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
                        int tap = i * kk + u * k + v;
                        bool has1 = v + 1 < k, has2 = v + 2 < k;
                        float q00 = RowWeight(weight, flipped, o0, oc, ic, kk, tap, true), q01 = RowWeight(weight, flipped, o0, oc, ic, kk, tap + 1, has1), q02 = RowWeight(weight, flipped, o0, oc, ic, kk, tap + 2, has2);
                        float q10 = RowWeight(weight, flipped, o0 + 1, oc, ic, kk, tap, true), q11 = RowWeight(weight, flipped, o0 + 1, oc, ic, kk, tap + 1, has1), q12 = RowWeight(weight, flipped, o0 + 1, oc, ic, kk, tap + 2, has2);
                        float q20 = RowWeight(weight, flipped, o0 + 2, oc, ic, kk, tap, true), q21 = RowWeight(weight, flipped, o0 + 2, oc, ic, kk, tap + 1, has1), q22 = RowWeight(weight, flipped, o0 + 2, oc, ic, kk, tap + 2, has2);
                        float q30 = RowWeight(weight, flipped, o0 + 3, oc, ic, kk, tap, true), q31 = RowWeight(weight, flipped, o0 + 3, oc, ic, kk, tap + 1, has1), q32 = RowWeight(weight, flipped, o0 + 3, oc, ic, kk, tap + 2, has2);
                        float q40 = RowWeight(weight, flipped, o0 + 4, oc, ic, kk, tap, true), q41 = RowWeight(weight, flipped, o0 + 4, oc, ic, kk, tap + 1, has1), q42 = RowWeight(weight, flipped, o0 + 4, oc, ic, kk, tap + 2, has2);
                        float q50 = RowWeight(weight, flipped, o0 + 5, oc, ic, kk, tap, true), q51 = RowWeight(weight, flipped, o0 + 5, oc, ic, kk, tap + 1, has1), q52 = RowWeight(weight, flipped, o0 + 5, oc, ic, kk, tap + 2, has2);
                        float q60 = RowWeight(weight, flipped, o0 + 6, oc, ic, kk, tap, true), q61 = RowWeight(weight, flipped, o0 + 6, oc, ic, kk, tap + 1, has1), q62 = RowWeight(weight, flipped, o0 + 6, oc, ic, kk, tap + 2, has2);
                        float q70 = RowWeight(weight, flipped, o0 + 7, oc, ic, kk, tap, true), q71 = RowWeight(weight, flipped, o0 + 7, oc, ic, kk, tap + 1, has1), q72 = RowWeight(weight, flipped, o0 + 7, oc, ic, kk, tap + 2, has2);
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

    /// <summary>Weight of output channel o (clamped to the last) at tap (i, u, v) = i*K*K + u*K + v, read
    /// directly from (Out, In, K, K) or, when flipped, from (In, Out, K, K) rotated 180 degrees.</summary>
    static float RowWeight(ArrayView<float> weight, int flipped, int o, int oc, int ic, int kk, int tap, bool present)
    {
        if (!present) return 0f;
        o = Min(o, oc - 1);
        int i = tap / kk, r = tap - i * kk;
        return flipped != 0 ? weight[(i * oc + o) * kk + kk - 1 - r] : weight[o * ic * kk + tap];
    }
}
