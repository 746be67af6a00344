using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;
using static Vae.Gpu.Kernels.KernelIndex;

namespace Vae.Gpu.Kernels;

public static partial class ConvKernels
{
    /// <summary>Version 5's tile: <see cref="LaneChannels"/> output channels x <see cref="LaneTiles.Width"/> columns of one row.</summary>
    public const int LaneChannels = 8;

    public static int LaneTiledThreads(ConvShape s) => LaneTiledThreads(s, LaneTiles.Width);

    /// <summary>Work-items of version 5's tiles (and of versions 6's and 7's narrow layers) at <paramref name="lanes"/> columns a tile.</summary>
    public static int LaneTiledThreads(ConvShape s, int lanes) => s.OutChannels < LaneChannels
        ? s.Batch * s.OutChannels * DivUp(s.OutHeight, LaneRowsPerTile) * DivUp(s.OutWidth, lanes)
        : s.Batch * DivUp(s.OutChannels, LaneChannels) * s.OutHeight * DivUp(s.OutWidth, lanes);

    /// <summary>Rows of one channel per work-item of version 5 where the layer has fewer than
    /// <see cref="LaneChannels"/> output channels (a channel tile would mostly compute clamped copies).</summary>
    public const int LaneRowsPerTile = 8;

    /// <summary>
    /// Version 5, for SIMD CPUs behind OpenCL: a work-item computes 8 output channels x 8 consecutive columns
    /// of one output row. Its innermost loop runs exactly 8 times over the columns with no condition, so the
    /// vectorizer turns it into one vector load of the input row and 8 FMAs with broadcast weights, and the
    /// 8 accumulator vectors stay in registers across the whole (input channel x K x K) reduction (conv v4's
    /// 32-column rows keep them in memory). Tiles whose reads stay inside the row run that loop; tiles at
    /// the border (padding, the last ragged tile) run a copy that reads outside columns as 0. Padding and the
    /// flipped weight are read in place, as in version 4; the taps run in the same order as in versions 6-8 (each
    /// tap (u, v) over all input channels).
    /// </summary>
    public static void LaneTiled(Index1D index, int stride, ConvArgs a)
    {
        ConvShape s = a.Shape;
        int pad = a.Pad, flipped = a.Flipped, flags = a.Flags;
        ArrayView<float> input = a.Input, weight = a.Weight, bias = a.Bias, mask = a.Mask, output = a.Output;
        const int lanes = LaneTiles.Width;
        var acc = LocalMemory.Allocate<float>(LaneChannels * lanes);
        int ho = s.OutHeight, wo = s.OutWidth, k = s.Kernel, kk = k * k, oc = s.OutChannels, ic = s.InChannels;
        int h = s.InHeight - 2 * pad, w = s.InWidth - 2 * pad;
        int chanTiles = DivUp(oc, LaneChannels), colTiles = DivUp(wo, lanes);
        int iStep = flipped != 0 ? oc * kk : kk, sign = flipped != 0 ? -1 : 1;
        if (oc < LaneChannels)
        {
            NarrowLaneTiles(index, stride, s, pad, iStep, sign, input, weight, bias, mask, flags, output, acc, lanes, false);
            return;
        }
        for (int item = index; item < LaneTiledThreads(s); item += stride)
        {
            int t = item;
            int x0 = (t % colTiles) * lanes; t /= colTiles;
            int y = t % ho; t /= ho;
            int o0 = (t % chanTiles) * LaneChannels;
            int b = t / chanTiles;
            for (int j = 0; j < LaneChannels * lanes; j++) acc[j] = 0f;
            int left = x0 - pad;
            if (left >= 0 && left + lanes + k - 1 <= w)
                LaneTile(s, pad, iStep, sign, input, weight, acc, b, o0, y, left, true, lanes);
            else
                LaneTile(s, pad, iStep, sign, input, weight, acc, b, o0, y, left, false, lanes);
            for (int c = 0; c < LaneChannels; c++)
            {
                int o = o0 + c;
                if (o >= oc) break;
                LaneTiles.Store(output, ((b * oc + o) * ho + y) * wo + x0, acc, c * lanes, wo - x0, o, 0, bias, mask, flags, lanes);
            }
        }
    }

    /// <summary>Versions 5's, 6's and 7's work for a layer of fewer than <see cref="LaneChannels"/> output channels:
    /// <see cref="LaneRowsPerTile"/> rows x <paramref name="lanes"/> columns of one channel per work-item (with
    /// <paramref name="overlapLast"/>, versions 6's and 7's: a row's last ragged tile overlaps the one before).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void NarrowLaneTiles(int index, int stride, ConvShape s, int pad, int iStep, int sign, ArrayView<float> input,
        ArrayView<float> weight, ArrayView<float> bias, ArrayView<float> mask, int flags, ArrayView<float> output, ArrayView<float> acc,
        int lanes, bool overlapLast)
    {
        int ho = s.OutHeight, wo = s.OutWidth, k = s.Kernel, oc = s.OutChannels;
        int w = s.InWidth - 2 * pad;
        int colTiles = DivUp(wo, lanes), rowTiles = DivUp(ho, LaneRowsPerTile);
        for (int item = index; item < LaneTiledThreads(s, lanes); item += stride)
        {
            int t = item;
            int x0 = (t % colTiles) * lanes; t /= colTiles;
            int y0 = (t % rowTiles) * LaneRowsPerTile; t /= rowTiles;
            int o = t % oc;
            int b = t / oc;
            PrefetchNextImage(s, pad, input, output, mask, flags, b, item % (oc * rowTiles * colTiles), oc * rowTiles * colTiles);
            int skip = 0;
            if (overlapLast && x0 + lanes > wo && wo >= lanes)
            {
                skip = x0 + lanes - wo;
                x0 = wo - lanes;
            }
            for (int j = 0; j < LaneRowsPerTile * lanes; j++) acc[j] = 0f;
            int left = x0 - pad;
            if (left >= 0 && left + lanes + k - 1 <= w)
                LaneRowTile(s, pad, iStep, sign, input, weight, acc, b, o, y0, left, true, lanes);
            else
                LaneRowTile(s, pad, iStep, sign, input, weight, acc, b, o, y0, left, false, lanes);
            LaneTiles.StoreBlock(output, ((b * oc + o) * ho + y0) * wo + x0, wo, 0, Min(LaneRowsPerTile, ho - y0), 1,
                acc, lanes, skip, wo - x0, o, bias, mask, flags, lanes);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void LaneTile(ConvShape s, int pad, int iStep, int sign, ArrayView<float> input, ArrayView<float> weight,
        ArrayView<float> acc, int b, int o0, int y, int left, bool inside, int lanes)
    {
        int k = s.Kernel, oc = s.OutChannels, ic = s.InChannels, kk = k * k;
        int h = s.InHeight - 2 * pad, w = s.InWidth - 2 * pad;
        // Where channel o0 + c's taps start (channels past OutChannels read the last one's, never stored).
        int flipped = sign < 0 ? 1 : 0;
        var cb = ChannelBases.Of(flipped, o0, oc, ic, kk);
        // Kernel rows whose input row is padding are left out by the loop's bounds, not by a condition in it:
        // a conditional update of the accumulators keeps the compiler from holding them in registers.
        int uStart = Max(0, pad - y), uEnd = Min(k, h + pad - y);
        if (uStart >= uEnd) return;
        // Taps outside, input channels inside, loops that run at least once: see PairTile.
        int planeSize = h * w;
        int u = uStart;
        do
        {
            int v = 0;
            do
            {
                int row = (b * ic * h + y + u - pad) * w, at = sign * (u * k + v);
                int from = left + v;
                int i = 0;
                do
                {
                    float q0 = weight[cb.W0 + at], q1 = weight[cb.W1 + at], q2 = weight[cb.W2 + at], q3 = weight[cb.W3 + at];
                    float q4 = weight[cb.W4 + at], q5 = weight[cb.W5 + at], q6 = weight[cb.W6 + at], q7 = weight[cb.W7 + at];
                    if (inside)
                    {
                        for (int x = 0; x < lanes; x++)
                            LaneTiles.AccumulateColumn(acc, x, lanes, input[row + from + x], q0, q1, q2, q3, q4, q5, q6, q7);
                    }
                    else
                    {
                        for (int x = 0; x < lanes; x++)
                        {
                            int ix = from + x;
                            LaneTiles.AccumulateColumn(acc, x, lanes, LaneTiles.InRow(ix, w) ? input[row + ix] : 0f, q0, q1, q2, q3, q4, q5, q6, q7);
                        }
                    }
                    row += planeSize;
                    at += iStep;
                } while (++i < ic);
            } while (++v < k);
        } while (++u < uEnd);
    }

    /// <summary>
    /// Output rows y0 .. y0 + 7 of channel o, columns left + pad ..: per tap one weight and 8 row vectors. A row
    /// outside the input (padding, or past the last output row) reads a clamped row with weight 0, so the loop
    /// over the columns keeps no condition.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void LaneRowTile(ConvShape s, int pad, int iStep, int sign, ArrayView<float> input, ArrayView<float> weight,
        ArrayView<float> acc, int b, int o, int y0, int left, bool inside, int lanes)
    {
        int k = s.Kernel, oc = s.OutChannels, ic = s.InChannels, kk = k * k;
        int h = s.InHeight - 2 * pad, w = s.InWidth - 2 * pad;
        int wo = RowWeightBase(sign < 0 ? 1 : 0, o, oc, ic, kk);
        // Taps outside, input channels inside, loops that run at least once: see PairTile.
        int plane = b * ic * h, planeSize = h * w;
        int u = 0;
        do
        {
            int top = y0 + u - pad;
            // Row r's input row in channel 0, clamped into the plane, and whether it is real.
            int a0 = (plane + Clamp(top, h)) * w, a1 = (plane + Clamp(top + 1, h)) * w;
            int a2 = (plane + Clamp(top + 2, h)) * w, a3 = (plane + Clamp(top + 3, h)) * w;
            int a4 = (plane + Clamp(top + 4, h)) * w, a5 = (plane + Clamp(top + 5, h)) * w;
            int a6 = (plane + Clamp(top + 6, h)) * w, a7 = (plane + Clamp(top + 7, h)) * w;
            bool r0 = Inside(top, h), r1 = Inside(top + 1, h), r2 = Inside(top + 2, h), r3 = Inside(top + 3, h);
            bool r4 = Inside(top + 4, h), r5 = Inside(top + 5, h), r6 = Inside(top + 6, h), r7 = Inside(top + 7, h);
            int v = 0;
            do
            {
                int from = left + v, at = wo + sign * (u * k + v), shift = 0;
                int i = 0;
                do
                {
                    float q = weight[at];
                    float q0 = r0 ? q : 0f, q1 = r1 ? q : 0f, q2 = r2 ? q : 0f, q3 = r3 ? q : 0f;
                    float q4 = r4 ? q : 0f, q5 = r5 ? q : 0f, q6 = r6 ? q : 0f, q7 = r7 ? q : 0f;
                    if (inside)
                    {
                        for (int x = 0; x < lanes; x++)
                        {
                            int c = from + x + shift;
                            LaneTiles.MulAdd8(acc, x, lanes, input[a0 + c], input[a1 + c], input[a2 + c], input[a3 + c],
                                input[a4 + c], input[a5 + c], input[a6 + c], input[a7 + c], q0, q1, q2, q3, q4, q5, q6, q7);
                        }
                    }
                    else
                    {
                        // Contiguous addresses under one mask (masked vector loads, not gathers).
                        for (int x = 0; x < lanes; x++)
                        {
                            int c = from + x;
                            bool real = LaneTiles.InRow(c, w);
                            c += shift;
                            LaneTiles.MulAdd8(acc, x, lanes, real ? input[a0 + c] : 0f, real ? input[a1 + c] : 0f, real ? input[a2 + c] : 0f,
                                real ? input[a3 + c] : 0f, real ? input[a4 + c] : 0f, real ? input[a5 + c] : 0f,
                                real ? input[a6 + c] : 0f, real ? input[a7 + c] : 0f, q0, q1, q2, q3, q4, q5, q6, q7);
                        }
                    }
                    shift += planeSize;
                    at += iStep;
                } while (++i < ic);
            } while (++v < k);
        } while (++u < k);
    }

    static int Clamp(int row, int h) => row < 0 ? 0 : row >= h ? h - 1 : row;
    static bool Inside(int row, int h) => row >= 0 && row < h;
}
