using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;
using static Vae.Gpu.Kernels.KernelIndex;

namespace Vae.Gpu.Kernels;

public static partial class ConvKernels
{
    /// <summary>Output rows per work-item of version 6.</summary>
    public const int PairRows = 2;

    public static int LanePairsThreads(ConvShape s) => PairsThreads(s, LaneTiles.Width);

    public static int WidePairsThreads(ConvShape s) => PairsThreads(s, LaneTiles.WideWidth);

    static int PairsThreads(ConvShape s, int lanes) => s.OutChannels < LaneChannels
        ? LaneTiledThreads(s, lanes)
        : s.Batch * DivUp(s.OutChannels, LaneChannels) * DivUp(s.OutHeight, PairRows) * DivUp(s.OutWidth, lanes);

    /// <summary>
    /// Version 6, for SIMD CPUs with 32 vector registers (AVX-512): version 5's tile for two consecutive output
    /// rows at once, 8 channels x 2 rows x 8 columns, 16 accumulator vectors. Each tap's 8 weights are loaded
    /// once for both rows, so a tap costs two input vectors, 8 broadcasts and 16 FMAs where version 5 spends
    /// one vector, 8 broadcasts and 8 FMAs, and the loop overhead is shared by twice the work. With AVX2's 16
    /// registers the accumulators would not fit: version 5 serves those CPUs. Row pairs that reach into the
    /// padding, or a last single row, run version 5's one-row tile for each row. Same sums in the same order as
    /// version 5, so the same results.
    /// </summary>
    public static void LanePairs(Index1D index, int stride, ConvArgs a) =>
        Pairs(index, stride, a, LocalMemory.Allocate<float>(PairRows * LaneChannels * LaneTiles.Width), LaneTiles.Width);

    /// <summary>
    /// Version 7: version 6 with tiles of 16 columns, 8 channels x 2 rows x 16 columns, for CPUs that run 512-bit
    /// vectors at full width (Zen 5, Xeons with two 512-bit FMA units) and where PoCL emits them
    /// (<c>PoclWideVectors</c>): the same 16 accumulator registers each hold twice the lanes, so a tap's 8 weights
    /// and its loop overhead serve twice the FMAs. Elsewhere the compiler splits each vector in two, which needs 32
    /// registers of accumulators. Same sums in the same order as versions 5 and 6.
    /// </summary>
    public static void WidePairs(Index1D index, int stride, ConvArgs a) =>
        Pairs(index, stride, a, LocalMemory.Allocate<float>(PairRows * LaneChannels * LaneTiles.WideWidth), LaneTiles.WideWidth);

    /// <summary>Versions 6 and 7 at <paramref name="lanes"/> columns a tile (a constant in each). Where a row is not
    /// a whole number of tiles, its last tile ends at the row's end, overlapping the tile before it, and stores
    /// only its new columns: in a row without padding all its reads then stay inside the input, so it needs no
    /// masked loads (a 24-wide row of 16-lane tiles masked half its tiles).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Pairs(int index, int stride, ConvArgs a, ArrayView<float> acc, int lanes)
    {
        ConvShape s = a.Shape;
        int pad = a.Pad, flipped = a.Flipped, flags = a.Flags;
        ArrayView<float> input = a.Input, weight = a.Weight, bias = a.Bias, mask = a.Mask, output = a.Output;
        int rowAcc = LaneChannels * lanes;
        int ho = s.OutHeight, wo = s.OutWidth, k = s.Kernel, kk = k * k, oc = s.OutChannels;
        int h = s.InHeight - 2 * pad, w = s.InWidth - 2 * pad;
        int chanTiles = DivUp(oc, LaneChannels), colTiles = DivUp(wo, lanes), pairs = DivUp(ho, PairRows);
        int iStep = flipped != 0 ? oc * kk : kk, sign = flipped != 0 ? -1 : 1;
        if (oc < LaneChannels)
        {
            NarrowLaneTiles(index, stride, s, pad, iStep, sign, input, weight, bias, mask, flags, output, acc, lanes, true);
            return;
        }
        var second = acc.SubView(rowAcc, rowAcc);
        for (int item = index; item < PairsThreads(s, lanes); item += stride)
        {
            int t = item;
            int x0 = (t % colTiles) * lanes; t /= colTiles;
            int y = (t % pairs) * PairRows; t /= pairs;
            int o0 = (t % chanTiles) * LaneChannels;
            int b = t / chanTiles;
            PrefetchNextImage(s, pad, input, output, mask, flags, b, item % (chanTiles * pairs * colTiles), chanTiles * pairs * colTiles);
            // The columns at the start of an overlapping last tile that the tile before it stores.
            int skip = 0;
            if (x0 + lanes > wo && wo >= lanes)
            {
                skip = x0 + lanes - wo;
                x0 = wo - lanes;
            }
            for (int j = 0; j < PairRows * rowAcc; j++) acc[j] = 0f;
            int left = x0 - pad;
            bool inside = left >= 0 && left + lanes + k - 1 <= w;
            // Both rows read all K kernel rows from real input rows: the first row starts at or below the
            // padding, the second ends at or above it.
            if (y + 1 < ho && y >= pad && y + k - pad < h)
            {
                if (inside) PairTile(s, pad, iStep, sign, input, weight, acc, b, o0, y, left, true, lanes);
                else PairTile(s, pad, iStep, sign, input, weight, acc, b, o0, y, left, false, lanes);
            }
            else
            {
                if (inside) LaneTile(s, pad, iStep, sign, input, weight, acc, b, o0, y, left, true, lanes);
                else LaneTile(s, pad, iStep, sign, input, weight, acc, b, o0, y, left, false, lanes);
                if (y + 1 < ho)
                {
                    if (inside) LaneTile(s, pad, iStep, sign, input, weight, second, b, o0, y + 1, left, true, lanes);
                    else LaneTile(s, pad, iStep, sign, input, weight, second, b, o0, y + 1, left, false, lanes);
                }
            }
            LaneTiles.StoreBlock(output, ((b * oc + o0) * ho + y) * wo + x0, wo, ho * wo, Min(PairRows, ho - y), Min(LaneChannels, oc - o0),
                acc, rowAcc, skip, wo - x0, o0, bias, mask, flags, lanes);
        }
    }

    /// <summary>Rows y and y + 1 of channels o0 .. o0 + 7, all K kernel rows real: per tap 8 weights, two input
    /// vectors, 16 vector FMAs; the first row's accumulators at acc[0 .. 8 lanes), the second's after them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void PairTile(ConvShape s, int pad, int iStep, int sign, ArrayView<float> input, ArrayView<float> weight,
        ArrayView<float> acc, int b, int o0, int y, int left, bool inside, int lanes)
    {
        int h = s.InHeight - 2 * pad, w = s.InWidth - 2 * pad;
        PairTaps(s, input, weight, acc, o0, (b * s.InChannels * h + y - pad) * w, left, w, w, h * w, iStep, sign, inside, lanes);
    }

    /// <summary>
    /// Every tap of a two-vector tile of channels o0 .. o0 + 7 (versions 6-8), in the order all lane versions share: each tap (u, v) over
    /// all input channels. Channel i's tap (u, v) reads the first vector at input[top + i * planeSize + u * w +
    /// left + v ..] and the second <paramref name="second"/> further on (the next row for versions 6 and 7, the
    /// next 16 positions for version 8). The input channels are the innermost loop, so the loop around the 16
    /// FMAs runs In times (16-64), not K: the address and loop work around it is paid once per In taps (with the
    /// channels outermost it ran once per 3 taps and held a quarter of the samples). Loops that run at least once
    /// (do-while; a layer has a channel and a tap): LLVM keeps the accumulators in registers across an outer
    /// loop only when the loops inside it cannot run zero times, and with for-loops stored and reloaded them after
    /// every kernel row. (Writing out a 3-wide kernel row's taps made LLVM hoist all 24 weights and spill them:
    /// slower.) The weights' offset is stepped, not computed per tap: computed afresh, LLVM gathered the 8
    /// channels' addresses into a vector and extracted them one by one.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void PairTaps(ConvShape s, ArrayView<float> input, ArrayView<float> weight, ArrayView<float> acc, int o0, int top, int left,
        int second, int w, int planeSize, int iStep, int sign, bool inside, int lanes)
    {
        int k = s.Kernel, oc = s.OutChannels, ic = s.InChannels, kk = k * k;
        // Where channel o0 + c's taps start (channels past OutChannels read the last one's, never stored).
        int flipped = sign < 0 ? 1 : 0;
        var cb = ChannelBases.Of(flipped, o0, oc, ic, kk);
        if (ic == 1)
        {
            // One input channel: one loop over the K x K taps, whose work around the 16 FMAs the channel loop
            // would otherwise pay per tap.
            int t = 0, v1 = 0, row1 = top;
            do
            {
                PairTap(input, weight, acc, second, w, row1, left + v1, sign * t, cb, inside, lanes);
                if (++v1 == k) { v1 = 0; row1 += w; }
            } while (++t < kk);
            return;
        }
        int u = 0;
        do
        {
            int v = 0;
            do
            {
                int row = top + u * w, at = sign * (u * k + v);
                int i = 0;
                do
                {
                    PairTap(input, weight, acc, second, w, row, left + v, at, cb, inside, lanes);
                    row += planeSize;
                    at += iStep;
                } while (++i < ic);
            } while (++v < k);
        } while (++u < k);
    }

    /// <summary>One tap: the 8 channels' weights at w_c + at times two input vectors from column
    /// <paramref name="from"/>, at top and top + <paramref name="distance"/> (columns outside a row of
    /// <paramref name="w"/> read as 0 unless <paramref name="inside"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void PairTap(ArrayView<float> input, ArrayView<float> weight, ArrayView<float> acc, int distance, int w, int top, int from, int at,
        ChannelBases cb, bool inside, int lanes)
    {
        int second = LaneChannels * lanes;
        float q0 = weight[cb.W0 + at], q1 = weight[cb.W1 + at], q2 = weight[cb.W2 + at], q3 = weight[cb.W3 + at];
        float q4 = weight[cb.W4 + at], q5 = weight[cb.W5 + at], q6 = weight[cb.W6 + at], q7 = weight[cb.W7 + at];
        int bottom = top + distance;
        if (inside)
        {
            for (int x = 0; x < lanes; x++)
            {
                LaneTiles.AccumulateColumn(acc, x, lanes, input[top + from + x], q0, q1, q2, q3, q4, q5, q6, q7);
                LaneTiles.AccumulateColumn(acc, second + x, lanes, input[bottom + from + x], q0, q1, q2, q3, q4, q5, q6, q7);
            }
        }
        else
        {
            for (int x = 0; x < lanes; x++)
            {
                int ix = from + x;
                bool real = LaneTiles.InRow(ix, w);
                LaneTiles.AccumulateColumn(acc, x, lanes, real ? input[top + ix] : 0f, q0, q1, q2, q3, q4, q5, q6, q7);
                LaneTiles.AccumulateColumn(acc, second + x, lanes, real ? input[bottom + ix] : 0f, q0, q1, q2, q3, q4, q5, q6, q7);
            }
        }
    }
}
