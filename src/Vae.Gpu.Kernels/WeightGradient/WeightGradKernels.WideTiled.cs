using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;
using static Vae.Gpu.Kernels.KernelIndex;

namespace Vae.Gpu.Kernels;

public static partial class WeightGradKernels
{
    /// <summary>Version 4's tile: gradient-side channels per work-item (x 3 taps of one kernel row).</summary>
    public const int WideGradChannels = 8;

    public static int WideTiledThreads(ConvShape s, int chunks) => TurnThreads(s, chunks, WideGradChannels);

    /// <summary>
    /// Version 4, version 3 for CPUs that run 512-bit vectors at full width where PoCL emits them
    /// (<c>PoclWideVectors</c>): 8 gradient-side channels x 3 taps x 16 columns, 24 accumulator registers of 32.
    /// Per tile row it loads 8 gradient vectors and 3 input vectors for 24 FMAs, where version 3 loads 4 and 3
    /// for 12: at 16 lanes version 3's loads, not its FMAs, set the pace. A work-item takes its rows and input
    /// channels in turn as version 3 does (<see cref="TakeTurns"/>; an image's 8 gradient planes are 18 KB at
    /// 24x24). A row's ragged last columns run as one more full tile that ends at the row's end, its first
    /// columns (summed by the tile before) weighted 0, so no load needs a mask; rows narrower than a tile run a
    /// masked copy. Each accumulator's 16 lanes are added as two fixed-order halves of 8, then the halves, so
    /// reruns give the same result. The bias sums ride along in 16 running sums each.
    /// </summary>
    public static void WideTiled(Index1D index, int stride, WeightGradArgs a) =>
        TakeTurns(index, stride, a, LocalMemory.Allocate<float>(TurnInputs * TurnRows * WideGradChannels * 3 * LaneTiles.WideWidth),
            LocalMemory.Allocate<float>(WideGradChannels * (LaneTiles.WideWidth + 1)), WideGradChannels, LaneTiles.WideWidth);

    /// <summary>Taps v, v+1, v+2 of kernel row u over images [bStart, bEnd) for gradient-side channels o0 .. o0 + 7
    /// (past the last, read clamped and never stored); <paramref name="threeTaps"/> false when the kernel row ends
    /// before v+2 (those taps read 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void WideRowTaps(ConvShape s, ArrayView<float> grad, ArrayView<float> input, ArrayView<float> acc,
        int o0, int i, int u, int v, int bStart, int bEnd, bool threeTaps)
    {
        const int lanes = LaneTiles.WideWidth;
        int k = s.Kernel, oc = s.OutChannels, ic = s.InChannels;
        int ho = s.OutHeight, wo = s.OutWidth, h = s.InHeight, w = s.InWidth, plane = ho * wo;
        int g0 = o0 * plane, g1 = Min(o0 + 1, oc - 1) * plane, g2 = Min(o0 + 2, oc - 1) * plane, g3 = Min(o0 + 3, oc - 1) * plane;
        int g4 = Min(o0 + 4, oc - 1) * plane, g5 = Min(o0 + 5, oc - 1) * plane, g6 = Min(o0 + 6, oc - 1) * plane, g7 = Min(o0 + 7, oc - 1) * plane;
        bool has1 = threeTaps || v + 1 < k, has2 = threeTaps || v + 2 < k;
        if (bStart >= bEnd) return;
        // Tiles start at 0, lanes, ... and, for a ragged row at least a tile wide, at wo - lanes. The loops run
        // at least once (do-while, empty ranges left out before them), as in version 3.
        int full = wo / lanes * lanes, skip = full == wo || wo < lanes ? 0 : lanes - (wo - full);
        int tiles = wo < lanes ? 0 : full / lanes + (skip > 0 ? 1 : 0);
        if (tiles > 0)
        {
            int b = bStart;
            do
            {
                int g = b * oc * plane, xPlane = ((b * ic + i) * h + u) * w + v;
                int tile = 0;
                do
                {
                    bool last = skip > 0 && tile == tiles - 1;
                    int x0 = last ? wo - lanes : tile * lanes, from = last ? skip : 0;
                    // The 8 channels' and the input's column of tiles as views, so that a row only moves one
                    // offset that every load shares (8 row offsets of their own cost more integer work than
                    // the FMAs took).
                    int span = (ho - 1) * wo + lanes, gx0 = g + x0, ix0 = xPlane + x0;
                    var c0 = grad.SubView(g0 + gx0, span); var c1 = grad.SubView(g1 + gx0, span);
                    var c2 = grad.SubView(g2 + gx0, span); var c3 = grad.SubView(g3 + gx0, span);
                    var c4 = grad.SubView(g4 + gx0, span); var c5 = grad.SubView(g5 + gx0, span);
                    var c6 = grad.SubView(g6 + gx0, span); var c7 = grad.SubView(g7 + gx0, span);
                    var column = input.SubView(ix0, (int)input.Length - ix0);
                    int y = 0;
                    do
                    {
                        // Views of the tile's columns, indexed by the lane alone (as in version 3).
                        int gy = y * wo, iy = y * w;
                        var q0 = c0.SubView(gy, lanes); var q1 = c1.SubView(gy, lanes);
                        var q2 = c2.SubView(gy, lanes); var q3 = c3.SubView(gy, lanes);
                        var q4 = c4.SubView(gy, lanes); var q5 = c5.SubView(gy, lanes);
                        var q6 = c6.SubView(gy, lanes); var q7 = c7.SubView(gy, lanes);
                        var p = column.SubView(iy, Min(lanes + 2, (int)column.Length - iy));
                        for (int x = 0; x < lanes; x++)
                        {
                            bool fresh = x >= from;
                            WideGradLane(acc, x, fresh ? q0[x] : 0f, fresh ? q1[x] : 0f, fresh ? q2[x] : 0f, fresh ? q3[x] : 0f,
                                fresh ? q4[x] : 0f, fresh ? q5[x] : 0f, fresh ? q6[x] : 0f, fresh ? q7[x] : 0f,
                                p[x], has1 ? p[x + 1] : 0f, has2 ? p[x + 2] : 0f);
                        }
                    } while (++y < ho);
                } while (++tile < tiles);
            } while (++b < bEnd);
            return;
        }
        // A row narrower than a tile: one tile whose columns past the row read as 0.
        int nb = bStart;
        do
        {
            int g = nb * oc * plane, xPlane = ((nb * ic + i) * h + u) * w + v;
            int y = 0;
            do
            {
                int gx = g + y * wo, ix = xPlane + y * w;
                var q0 = grad.SubView(g0 + gx, wo); var q1 = grad.SubView(g1 + gx, wo);
                var q2 = grad.SubView(g2 + gx, wo); var q3 = grad.SubView(g3 + gx, wo);
                var q4 = grad.SubView(g4 + gx, wo); var q5 = grad.SubView(g5 + gx, wo);
                var q6 = grad.SubView(g6 + gx, wo); var q7 = grad.SubView(g7 + gx, wo);
                var p = input.SubView(ix, Min(wo + 2, (int)input.Length - ix));
                for (int x = 0; x < lanes; x++)
                {
                    bool inRow = x < wo;
                    WideGradLane(acc, x, inRow ? q0[x] : 0f, inRow ? q1[x] : 0f, inRow ? q2[x] : 0f, inRow ? q3[x] : 0f,
                        inRow ? q4[x] : 0f, inRow ? q5[x] : 0f, inRow ? q6[x] : 0f, inRow ? q7[x] : 0f,
                        inRow ? p[x] : 0f, inRow && has1 ? p[x + 1] : 0f, inRow && has2 ? p[x + 2] : 0f);
                }
            } while (++y < ho);
        } while (++nb < bEnd);
    }

    /// <summary>Lane x of the 8 channels x 3 taps: acc[(c, j), x] += q_c * p_j.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void WideGradLane(ArrayView<float> acc, int x, float q0, float q1, float q2, float q3, float q4, float q5, float q6, float q7,
        float p0, float p1, float p2)
    {
        WideGradChannel(acc, x, 0, q0, p0, p1, p2); WideGradChannel(acc, x, 1, q1, p0, p1, p2);
        WideGradChannel(acc, x, 2, q2, p0, p1, p2); WideGradChannel(acc, x, 3, q3, p0, p1, p2);
        WideGradChannel(acc, x, 4, q4, p0, p1, p2); WideGradChannel(acc, x, 5, q5, p0, p1, p2);
        WideGradChannel(acc, x, 6, q6, p0, p1, p2); WideGradChannel(acc, x, 7, q7, p0, p1, p2);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void WideGradChannel(ArrayView<float> acc, int x, int c, float q, float p0, float p1, float p2)
    {
        const int lanes = LaneTiles.WideWidth;
        int at = c * 3 * lanes + x;
        acc[at] = MulAdd(q, p0, acc[at]);
        acc[at + lanes] = MulAdd(q, p1, acc[at + lanes]);
        acc[at + 2 * lanes] = MulAdd(q, p2, acc[at + 2 * lanes]);
    }
}
