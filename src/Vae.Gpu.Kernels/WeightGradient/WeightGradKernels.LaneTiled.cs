using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;
using static Vae.Gpu.Kernels.KernelIndex;

namespace Vae.Gpu.Kernels;

public static partial class WeightGradKernels
{
    /// <summary>Kernel rows and input channels a work-item of versions 3 and 4 owns and takes in turn image by image.
    /// (4 input channels share each gradient plane twice as often, but version 4's 18 KB of parked sums no longer
    /// fit in L1 beside the planes at 24x24: the default model's step was 10 % slower, the notebook's 42x42
    /// gradients 14 % faster.)</summary>
    public const int TurnRows = 3, TurnInputs = 2;

    public static int LaneTiledThreads(ConvShape s, int chunks) => TurnThreads(s, chunks, GradRowChannels);

    static int TurnThreads(ConvShape s, int chunks, int channels) =>
        DivUp(s.OutChannels, channels) * DivUp(s.InChannels, TurnInputs) * DivUp(s.Kernel, TurnRows) * chunks;

    /// <summary>
    /// Version 3 of <see cref="Tiled"/> (same result layout), for SIMD CPUs behind OpenCL: the work of version 2
    /// (4 gradient-side channels o x 3 taps of one kernel row u, one input channel i, one batch chunk), but
    /// its innermost loop runs exactly 8 times over 8 consecutive columns with no condition, so the 12
    /// accumulator vectors stay in registers across the image's rows (version 2's 32-column rows keep them in
    /// memory). The tiles run down the rows, column of tiles by column of tiles; the rows' last ragged columns
    /// run afterwards, in a copy that reads them as 0. At the end each accumulator's 8 lanes are added in a fixed
    /// order, so reruns give the same result. A work-item takes its rows and input channels in turn
    /// (<see cref="TakeTurns"/>). The bias sums ride along in 16 running sums each
    /// (<see cref="ReductionKernels.LaneChannelSumOf"/>).
    /// </summary>
    public static void LaneTiled(Index1D index, int stride, WeightGradArgs a) =>
        TakeTurns(index, stride, a, LocalMemory.Allocate<float>(TurnInputs * TurnRows * GradRowChannels * 3 * LaneTiles.Width),
            LocalMemory.Allocate<float>(GradRowChannels * (LaneTiles.WideWidth + 1)), GradRowChannels, LaneTiles.Width);

    /// <summary>
    /// Versions 3 and 4 (<paramref name="channels"/> x 3 taps x <paramref name="lanes"/> columns a tile: 4 x 8 or
    /// 8 x 16, constants where inlined): a work-item owns up to <see cref="TurnRows"/> kernel rows of up to
    /// <see cref="TurnInputs"/> input channels and takes them in turn for each image, their accumulators parked in
    /// <paramref name="acc"/> (private memory) between turns, so an image's gradient planes are read from L1 by
    /// all but the first turn rather than streamed from L2 once per row over the whole chunk. Within a chunk each
    /// accumulator sums the same terms in the same order as one row at a time. With <see cref="WeightGradArgs.BiasInTurns"/>
    /// (the bias from the gradient side), the work-item of the first kernel rows and input channels also sums its
    /// channels' planes for the bias, image by image right after its turns read them (from L1), in
    /// <paramref name="biasAcc"/>: the same sums in the same order as <see cref="ReductionKernels.LaneChannelSumOf"/>,
    /// which otherwise reads the planes again at the launch's end.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void TakeTurns(int index, int stride, WeightGradArgs a, ArrayView<float> acc, ArrayView<float> biasAcc, int channels, int lanes)
    {
        ConvShape s = a.Shape;
        int chunks = a.Chunks, biasChannels = a.BiasChannels, biasPlane = a.BiasPlane;
        ArrayView<float> grad = a.Grad, input = a.Input, biasSource = a.BiasSource, partials = a.Partials;
        int rowAcc = channels * 3 * lanes;
        int chunkStride = s.WeightLength + biasChannels;
        int k = s.Kernel, kk = k * k, oc = s.OutChannels, ic = s.InChannels;
        int plane = s.OutHeight * s.OutWidth, inPlane = s.InHeight * s.InWidth;
        for (int item = index; item < TurnThreads(s, chunks, channels); item += stride)
        {
            var tile = TapTile.Of(item, s, channels, chunks, TurnRows, TurnInputs);
            int u0 = tile.U, i0 = tile.I, o0 = tile.O0, chunk = tile.Chunk, bStart = tile.BStart, bEnd = tile.BEnd;
            int rows = Min(TurnRows, k - u0), inputs = Min(TurnInputs, ic - i0);
            bool biasHere = a.BiasInTurns != 0 && i0 == 0 && u0 == 0;
            int biasChans = Min(channels, oc - o0);
            for (int v = 0; v < k; v += 3)
            {
                for (int j = 0; j < TurnInputs * TurnRows * rowAcc; j++) acc[j] = 0f;
                if (biasHere && v == 0)
                    for (int j = 0; j < channels * (LaneTiles.WideWidth + 1); j++) biasAcc[j] = 0f;
                for (int b = bStart; b < bEnd; b++)
                {
                    // The next image's planes, asked for by the first tile to read them from memory: the first input
                    // block asks for the gradient planes, the first channel tile for the input planes.
                    if (b + 1 < bEnd && v == 0)
                    {
                        if (i0 == 0 && u0 == 0) CachePrefetch.Share(grad, ((b + 1) * oc + o0) * plane, Min(channels, oc - o0) * plane, 0, 1);
                        if (o0 == 0 && u0 == 0) CachePrefetch.Share(input, ((b + 1) * ic + i0) * inPlane, inputs * inPlane, 0, 1);
                    }
                    for (int n = 0; n < inputs; n++)
                    {
                        for (int r = 0; r < rows; r++)
                        {
                            var rowSums = acc.SubView((n * TurnRows + r) * rowAcc, rowAcc);
                            if (v + 3 <= k) RowTaps(s, grad, input, rowSums, o0, i0 + n, u0 + r, v, b, true, lanes);
                            else RowTaps(s, grad, input, rowSums, o0, i0 + n, u0 + r, v, b, false, lanes);
                        }
                    }
                    if (biasHere && v == 0)
                        for (int c = 0; c < biasChans; c++)
                        {
                            int at = channels * LaneTiles.WideWidth + c;
                            biasAcc[at] = ReductionKernels.AddPlaneLanes(grad.SubView((b * oc + o0 + c) * plane, plane),
                                biasAcc.SubView(c * LaneTiles.WideWidth, LaneTiles.WideWidth), biasAcc[at]);
                        }
                }
                int baseOffset = chunk * chunkStride;
                for (int n = 0; n < inputs; n++)
                {
                    for (int r = 0; r < rows; r++)
                    {
                        for (int c = 0; c < channels; c++)
                        {
                            int o = o0 + c;
                            if (o >= oc) break;
                            for (int j = 0; j < 3 && v + j < k; j++)
                            {
                                int at = (n * TurnRows + r) * rowAcc + (c * 3 + j) * lanes;
                                partials[baseOffset + (o * ic + i0 + n) * kk + (u0 + r) * k + v + j] =
                                    lanes == LaneTiles.Width ? LaneTiles.Sum(acc, at) : LaneTiles.WideSum(acc, at);
                            }
                        }
                    }
                }
                if (biasHere && v == 0)
                    for (int c = 0; c < biasChans; c++)
                        partials[baseOffset + s.WeightLength + o0 + c] = LaneTiles.WideSum(biasAcc, c * LaneTiles.WideWidth) + biasAcc[channels * LaneTiles.WideWidth + c];
            }
        }
        if (a.BiasInTurns == 0)
            LaneBiasPartials(index, stride, s.Batch, chunks, chunkStride, s.WeightLength, biasSource, biasChannels, biasPlane, partials);
    }

    /// <summary>One image's turn at taps v, v+1, v+2 of kernel row u for version 3's or 4's tile.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void RowTaps(ConvShape s, ArrayView<float> grad, ArrayView<float> input, ArrayView<float> acc,
        int o0, int i, int u, int v, int b, bool threeTaps, int lanes)
    {
        if (lanes == LaneTiles.Width) LaneRowTaps(s, grad, input, acc, o0, i, u, v, b, b + 1, threeTaps);
        else WideRowTaps(s, grad, input, acc, o0, i, u, v, b, b + 1, threeTaps);
    }

    /// <summary>Taps v, v+1, v+2 of kernel row u over images [bStart, bEnd) for gradient-side channels o0 .. o0 + 3
    /// (past the last, read clamped and never stored); <paramref name="threeTaps"/> false when the kernel row ends
    /// before v+2 (those taps read 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void LaneRowTaps(ConvShape s, ArrayView<float> grad, ArrayView<float> input, ArrayView<float> acc,
        int o0, int i, int u, int v, int bStart, int bEnd, bool threeTaps)
    {
        const int lanes = LaneTiles.Width;
        int k = s.Kernel, oc = s.OutChannels, ic = s.InChannels;
        int ho = s.OutHeight, wo = s.OutWidth, h = s.InHeight, w = s.InWidth, plane = ho * wo;
        int c1 = Min(o0 + 1, oc - 1), c2 = Min(o0 + 2, oc - 1), c3 = Min(o0 + 3, oc - 1);
        bool has1 = v + 1 < k, has2 = v + 2 < k;
        int full = wo / lanes * lanes;
        // Per image, each column of full 8-column tiles down all rows, then the ragged last tiles in a loop nest
        // of their own. The loops run at least once (do-while, empty ranges left out before them): LLVM keeps
        // the accumulators in registers across an outer loop only when the inner loop's trip count cannot be
        // zero; with for-loops it stored and reloaded them after every column of tiles.
        if (bStart >= bEnd) return;
        if (full > 0)
        {
            int b = bStart;
            do
            {
                int g = b * oc * plane, xPlane = ((b * ic + i) * h + u) * w + v;
                int x0 = 0;
                do
                {
                    int y = 0;
                    do
                    {
                        // Views of the tile's 8 columns: indexed by the lane alone, the loads need no check that a
                        // 32-bit index does not wrap (that check's scalar fallback kept the accumulators in memory).
                        int gx = g + y * wo + x0, ix = xPlane + y * w + x0;
                        var q0 = grad.SubView(o0 * plane + gx, lanes);
                        var q1 = grad.SubView(c1 * plane + gx, lanes);
                        var q2 = grad.SubView(c2 * plane + gx, lanes);
                        var q3 = grad.SubView(c3 * plane + gx, lanes);
                        var p = input.SubView(ix, Min(lanes + 2, (int)input.Length - ix));
                        for (int x = 0; x < lanes; x++)
                            GradLane(acc, x, q0[x], q1[x], q2[x], q3[x], p[x], threeTaps || has1 ? p[x + 1] : 0f, threeTaps || has2 ? p[x + 2] : 0f);
                    } while (++y < ho);
                    x0 += lanes;
                } while (x0 < full);
            } while (++b < bEnd);
        }
        if (full == wo) return;
        int tb = bStart;
        do
        {
            int g = tb * oc * plane, xPlane = ((tb * ic + i) * h + u) * w + v;
            int y = 0;
            do
            {
                int gx = g + y * wo + full, ix = xPlane + y * w + full, tail = wo - full;
                var q0 = grad.SubView(o0 * plane + gx, tail);
                var q1 = grad.SubView(c1 * plane + gx, tail);
                var q2 = grad.SubView(c2 * plane + gx, tail);
                var q3 = grad.SubView(c3 * plane + gx, tail);
                var p = input.SubView(ix, Min(tail + 2, (int)input.Length - ix));
                for (int x = 0; x < lanes; x++)
                {
                    bool inRow = x < tail;
                    float p0 = inRow ? p[x] : 0f, p1 = inRow && has1 ? p[x + 1] : 0f, p2 = inRow && has2 ? p[x + 2] : 0f;
                    GradLane(acc, x, inRow ? q0[x] : 0f, inRow ? q1[x] : 0f, inRow ? q2[x] : 0f, inRow ? q3[x] : 0f, p0, p1, p2);
                }
            } while (++y < ho);
        } while (++tb < bEnd);
    }

    /// <summary>Lane x of the 4 channels x 3 taps: acc[(c, j), x] += q_c * p_j.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void GradLane(ArrayView<float> acc, int x, float q0, float q1, float q2, float q3, float p0, float p1, float p2)
    {
        const int lanes = LaneTiles.Width;
        acc[x] = KernelIndex.MulAdd(q0, p0, acc[x]);
        acc[lanes + x] = KernelIndex.MulAdd(q0, p1, acc[lanes + x]);
        acc[2 * lanes + x] = KernelIndex.MulAdd(q0, p2, acc[2 * lanes + x]);
        acc[3 * lanes + x] = KernelIndex.MulAdd(q1, p0, acc[3 * lanes + x]);
        acc[4 * lanes + x] = KernelIndex.MulAdd(q1, p1, acc[4 * lanes + x]);
        acc[5 * lanes + x] = KernelIndex.MulAdd(q1, p2, acc[5 * lanes + x]);
        acc[6 * lanes + x] = KernelIndex.MulAdd(q2, p0, acc[6 * lanes + x]);
        acc[7 * lanes + x] = KernelIndex.MulAdd(q2, p1, acc[7 * lanes + x]);
        acc[8 * lanes + x] = KernelIndex.MulAdd(q2, p2, acc[8 * lanes + x]);
        acc[9 * lanes + x] = KernelIndex.MulAdd(q3, p0, acc[9 * lanes + x]);
        acc[10 * lanes + x] = KernelIndex.MulAdd(q3, p1, acc[10 * lanes + x]);
        acc[11 * lanes + x] = KernelIndex.MulAdd(q3, p2, acc[11 * lanes + x]);
    }

    /// <summary>What one work-item of versions 3 and 4 owns: kernel row <see cref="U"/>, input channel
    /// <see cref="I"/>, the gradient-side channels from <see cref="O0"/>, and chunk <see cref="Chunk"/>'s images
    /// [<see cref="BStart"/>, <see cref="BEnd"/>).</summary>
    readonly struct TapTile
    {
        public readonly int U, I, O0, Chunk, BStart, BEnd;

        TapTile(int u, int i, int o0, int chunk, int bStart, int bEnd)
        {
            U = u; I = i; O0 = o0; Chunk = chunk; BStart = bStart; BEnd = bEnd;
        }

        /// <summary>Work-item <paramref name="item"/>'s share with tiles of <paramref name="channels"/> gradient-side
        /// channels, blocks of <paramref name="rows"/> kernel rows (<see cref="U"/> the block's first) and of
        /// <paramref name="inputs"/> input channels (<see cref="I"/> the block's first).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static TapTile Of(int item, ConvShape s, int channels, int chunks, int rows = 1, int inputs = 1)
        {
            int blocks = DivUp(s.Kernel, rows), iBlocks = DivUp(s.InChannels, inputs);
            int oTiles = DivUp(s.OutChannels, channels), perChunk = DivUp(s.Batch, chunks);
            int t = item;
            int u = t % blocks * rows; t /= blocks;
            int i = t % iBlocks * inputs; t /= iBlocks;
            int o0 = (t % oTiles) * channels;
            int chunk = t / oTiles;
            int bStart = Min(chunk * perChunk, s.Batch);
            return new TapTile(u, i, o0, chunk, bStart, Min(bStart + perChunk, s.Batch));
        }
    }
}
