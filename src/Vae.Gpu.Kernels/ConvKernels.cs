using ILGPU;
using ILGPU.Runtime;

namespace Vae.Gpu.Kernels;

/// <summary>
/// The convolution kernels. Every convolution of the model is a valid cross-correlation:
/// Conv2d forward and ConvTranspose2d's input gradient directly, ConvTranspose2d forward and Conv2d's
/// input gradient on a zero-padded input with flipped, transposed weights (<see cref="Pad"/>,
/// <see cref="FlipTranspose"/>). Weight gradients of both layers are <see cref="WeightGradPartials"/>.
/// </summary>
public static class ConvKernels
{
    /// <summary>Each thread of <see cref="ValidConv"/> computes TileChannels x TileWidth outputs in registers.</summary>
    public const int TileChannels = 4, TileWidth = 8;

    public static int ValidConvThreads(ConvShape s) =>
        s.Batch * DivUp(s.OutChannels, TileChannels) * s.OutHeight * DivUp(s.OutWidth, TileWidth);

    /// <summary>
    /// output[b, o, y, x] = epilogue(sum_{i, u, v} input[b, i, y+u, x+v] * weight[o, i, u, v]).
    /// One thread: 4 output channels x 8 adjacent columns of one row; the tile past the edge reads a
    /// clamped (valid) address and skips its store, so the inner loop has no branches.
    /// </summary>
    public static void ValidConv(
        Index1D index, int stride, ConvShape s, ArrayView<float> input, ArrayView<float> weight,
        ArrayView<float> bias, ArrayView<float> mask, int flags, ArrayView<float> output)
    {
        for (int tile = index; tile < ValidConvThreads(s); tile += stride)
            ValidConvTile(tile, s, input, weight, bias, mask, flags, output);
    }

    static void ValidConvTile(
        int tile, ConvShape s, ArrayView<float> input, ArrayView<float> weight,
        ArrayView<float> bias, ArrayView<float> mask, int flags, ArrayView<float> output)
    {
        int ho = s.OutHeight, wo = s.OutWidth, k = s.Kernel, h = s.InHeight, w = s.InWidth;
        int colTiles = DivUp(wo, TileWidth), chanTiles = DivUp(s.OutChannels, TileChannels);
        int t = tile;
        int x0 = (t % colTiles) * TileWidth; t /= colTiles;
        int y = t % ho; t /= ho;
        int o0 = (t % chanTiles) * TileChannels;
        int b = t / chanTiles;

        int c1 = Min(x0 + 1, wo - 1), c2 = Min(x0 + 2, wo - 1), c3 = Min(x0 + 3, wo - 1);
        int c4 = Min(x0 + 4, wo - 1), c5 = Min(x0 + 5, wo - 1), c6 = Min(x0 + 6, wo - 1), c7 = Min(x0 + 7, wo - 1);
        int kk = k * k, wPerOut = s.InChannels * kk;
        int wa = o0 * wPerOut, wb = Min(o0 + 1, s.OutChannels - 1) * wPerOut;
        int wc = Min(o0 + 2, s.OutChannels - 1) * wPerOut, wd = Min(o0 + 3, s.OutChannels - 1) * wPerOut;

        // 32 accumulators: x64 with AVX-512 keeps them all in registers; measured ~25% faster than 4x4 there.
        float a00 = 0, a01 = 0, a02 = 0, a03 = 0, a04 = 0, a05 = 0, a06 = 0, a07 = 0;
        float a10 = 0, a11 = 0, a12 = 0, a13 = 0, a14 = 0, a15 = 0, a16 = 0, a17 = 0;
        float a20 = 0, a21 = 0, a22 = 0, a23 = 0, a24 = 0, a25 = 0, a26 = 0, a27 = 0;
        float a30 = 0, a31 = 0, a32 = 0, a33 = 0, a34 = 0, a35 = 0, a36 = 0, a37 = 0;
        for (int i = 0; i < s.InChannels; i++)
        {
            int inPlane = ((b * s.InChannels + i) * h + y) * w;
            int wi = i * kk;
            for (int u = 0; u < k; u++)
            {
                int row = inPlane + u * w;
                int wu = wi + u * k;
                for (int v = 0; v < k; v++)
                {
                    int r = row + v;
                    float p0 = input[r + x0], p1 = input[r + c1], p2 = input[r + c2], p3 = input[r + c3];
                    float p4 = input[r + c4], p5 = input[r + c5], p6 = input[r + c6], p7 = input[r + c7];
                    int wv = wu + v;
                    float q0 = weight[wa + wv], q1 = weight[wb + wv], q2 = weight[wc + wv], q3 = weight[wd + wv];
                    a00 += q0 * p0; a01 += q0 * p1; a02 += q0 * p2; a03 += q0 * p3; a04 += q0 * p4; a05 += q0 * p5; a06 += q0 * p6; a07 += q0 * p7;
                    a10 += q1 * p0; a11 += q1 * p1; a12 += q1 * p2; a13 += q1 * p3; a14 += q1 * p4; a15 += q1 * p5; a16 += q1 * p6; a17 += q1 * p7;
                    a20 += q2 * p0; a21 += q2 * p1; a22 += q2 * p2; a23 += q2 * p3; a24 += q2 * p4; a25 += q2 * p5; a26 += q2 * p6; a27 += q2 * p7;
                    a30 += q3 * p0; a31 += q3 * p1; a32 += q3 * p2; a33 += q3 * p3; a34 += q3 * p4; a35 += q3 * p5; a36 += q3 * p6; a37 += q3 * p7;
                }
            }
        }

        StoreRow(s, b, o0, y, x0, a00, a01, a02, a03, a04, a05, a06, a07, bias, mask, flags, output);
        StoreRow(s, b, o0 + 1, y, x0, a10, a11, a12, a13, a14, a15, a16, a17, bias, mask, flags, output);
        StoreRow(s, b, o0 + 2, y, x0, a20, a21, a22, a23, a24, a25, a26, a27, bias, mask, flags, output);
        StoreRow(s, b, o0 + 3, y, x0, a30, a31, a32, a33, a34, a35, a36, a37, bias, mask, flags, output);
    }

    /// <summary>Output channels each work-item of <see cref="ValidConvCoalesced"/> keeps in registers.</summary>
    public const int CoalescedChannels = 8;

    public static int ValidConvCoalescedThreads(ConvShape s) =>
        s.Batch * DivUp(s.OutChannels, CoalescedChannels) * s.OutHeight * s.OutWidth;

    /// <summary>
    /// Version 2 of <see cref="ValidConv"/>, shaped for GPUs and for PoCL's vectorizer: work-item = one output
    /// column x of one row, for 8 output channels; neighbouring work-items take neighbouring columns, so
    /// every input load and output store of a warp (or SIMD vector) is contiguous, and the 8 weights of a tap
    /// are the same for all of them (a broadcast). Same maths, epilogue and clamping as version 1.
    /// </summary>
    public static void ValidConvCoalesced(
        Index1D index, int stride, ConvShape s, ArrayView<float> input, ArrayView<float> weight,
        ArrayView<float> bias, ArrayView<float> mask, int flags, ArrayView<float> output)
    {
        int total = ValidConvCoalescedThreads(s);
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

    /// <summary>Version 3's tile: output channels per group, output rows per group, and the most taps
    /// (input channels x K x K) whose weights a group stages in shared memory; larger layers use version 2.</summary>
    public const int StagedChannels = 8, StagedRows = 8, StagedMaxTaps = 1024;

    public static bool ValidConvStagedFits(ConvShape s) => s.InChannels * s.Kernel * s.Kernel <= StagedMaxTaps;

    /// <summary>
    /// Launch shape of <see cref="ValidConvStaged"/>: a group is the output columns x <see cref="StagedRows"/>
    /// rows of one image, for <see cref="StagedChannels"/> output channels.
    /// </summary>
    public static KernelConfig ValidConvStagedConfig(ConvShape s) =>
        new(new Index3D(1, DivUp(s.OutHeight, StagedRows), s.Batch * DivUp(s.OutChannels, StagedChannels)),
            new Index3D(s.OutWidth, StagedRows, 1));

    /// <summary>
    /// Version 3 of <see cref="ValidConv"/>: the input is read as if surrounded by <paramref name="pad"/> zeros
    /// (s gives the padded size) and, when <paramref name="flipped"/> is 1, the weight stored (In, Out, K, K)
    /// is read flipped and transposed, so a full convolution needs no Pad or FlipTranspose pass.
    /// Work-item (x, row) = one output column: consecutive work-items on consecutive addresses. The group
    /// stages its 8 output channels' weights in shared memory (tap-major, 8 per tap) behind one barrier, then
    /// runs one loop over the <paramref name="taps"/> = In x K x K taps. That shape is also what PoCL
    /// vectorizes: a kernel with a barrier whose inner loop has a uniform trip count (a plain int argument,
    /// counted from 0 by 1) gets an implicit barrier in that loop, so each tap becomes a SIMD loop over the
    /// group's work-items instead of a scalar loop per work-item.
    /// </summary>
    [ExplicitlyGrouped]
    public static void ValidConvStaged(
        ConvShape s, int taps, int pad, int flipped, ArrayView<float> input, ArrayView<float> weight,
        ArrayView<float> bias, ArrayView<float> mask, int flags, ArrayView<float> output)
    {
        var staged = SharedMemory.Allocate<float>(StagedChannels * StagedMaxTaps);
        int ho = s.OutHeight, wo = s.OutWidth, k = s.Kernel, kk = k * k, oc = s.OutChannels, ic = s.InChannels;
        int h = s.InHeight - 2 * pad, w = s.InWidth - 2 * pad;
        int chanTiles = DivUp(oc, StagedChannels);
        int x = Group.IdxX, yOut = Grid.IdxY * StagedRows + Group.IdxY, y = Min(yOut, ho - 1);
        int o0 = (Grid.IdxZ % chanTiles) * StagedChannels, b = Grid.IdxZ / chanTiles;
        int lane = Group.IdxY * Group.DimX + Group.IdxX, lanes = Group.DimX * Group.DimY;
        for (int j = lane; j < StagedChannels * taps; j += lanes)
        {
            // Channels past the last are staged clamped and never stored.
            int tap = j / StagedChannels, o = Min(o0 + j % StagedChannels, oc - 1);
            int i = tap / kk, r = tap - i * kk;
            staged[j] = flipped != 0 ? weight[(i * oc + o) * kk + kk - 1 - r] : weight[o * taps + tap];
        }
        Group.Barrier();

        int plane = b * ic;
        float a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
        for (int j = 0; j < taps; j++)
        {
            int i = j / kk, r = j - i * kk, u = r / k, v = r - u * k;
            int iy = y + u - pad, ix = x + v - pad;
            float p = iy >= 0 && iy < h && ix >= 0 && ix < w ? input[((plane + i) * h + iy) * w + ix] : 0f;
            int q = j * StagedChannels;
            a0 += staged[q] * p; a1 += staged[q + 1] * p; a2 += staged[q + 2] * p; a3 += staged[q + 3] * p;
            a4 += staged[q + 4] * p; a5 += staged[q + 5] * p; a6 += staged[q + 6] * p; a7 += staged[q + 7] * p;
        }
        if (yOut >= ho) return;
        StoreChannels(output, ((b * oc + o0) * ho + y) * wo + x, ho * wo, o0, oc, a0, a1, a2, a3, a4, a5, a6, a7, bias, mask, flags);
    }

    /// <summary>Version 4's tile: a work-item keeps <see cref="RowChannels"/> output channels x
    /// <see cref="RowLanes"/> columns of one output row; layers wider than RowLanes use version 2.</summary>
    public const int RowChannels = 8, RowLanes = 32;

    public static bool ValidConvRowsFits(ConvShape s) => s.OutWidth <= RowLanes;

    public static int ValidConvRowsThreads(ConvShape s) => s.Batch * DivUp(s.OutChannels, RowChannels) * s.OutHeight;

    /// <summary>
    /// Version 4, for CPUs behind OpenCL (PoCL): a work-item computes a whole output row (up to
    /// <see cref="RowLanes"/> columns) of <see cref="RowChannels"/> channels, and its innermost loop runs over
    /// the columns with a fixed trip count: out[c, x] += w[c] * in[x + v], independent across x, which LLVM
    /// turns into SIMD FMAs inside the work-item (PoCL does not vectorize across work-items when each runs an
    /// inner loop). Same padding and flipped-weight reading as version 3, same order of the sum as version 2.
    /// A GPU would rather run versions 2 or 3: one thread per row is too little parallelism there.
    /// </summary>
    public static void ValidConvRows(
        Index1D index, int stride, ConvShape s, int pad, int flipped, ArrayView<float> input, ArrayView<float> weight,
        ArrayView<float> bias, ArrayView<float> mask, int flags, ArrayView<float> output)
    {
        var acc = LocalMemory.Allocate<float>(RowChannels * RowLanes);
        int ho = s.OutHeight, wo = s.OutWidth, k = s.Kernel, kk = k * k, oc = s.OutChannels, ic = s.InChannels;
        int h = s.InHeight - 2 * pad, w = s.InWidth - 2 * pad, chanTiles = DivUp(oc, RowChannels);
        for (int item = index; item < ValidConvRowsThreads(s); item += stride)
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

    static void StoreRow(
        ConvShape s, int b, int o, int y, int x0, float c0, float c1, float c2, float c3,
        float c4, float c5, float c6, float c7,
        ArrayView<float> bias, ArrayView<float> mask, int flags, ArrayView<float> output)
    {
        if (o >= s.OutChannels) return;
        int wo = s.OutWidth;
        int at = ((b * s.OutChannels + o) * s.OutHeight + y) * wo + x0;
        Epilogue.Store(output, at, c0, o, bias, mask, flags);
        if (x0 + 1 < wo) Epilogue.Store(output, at + 1, c1, o, bias, mask, flags);
        if (x0 + 2 < wo) Epilogue.Store(output, at + 2, c2, o, bias, mask, flags);
        if (x0 + 3 < wo) Epilogue.Store(output, at + 3, c3, o, bias, mask, flags);
        if (x0 + 4 < wo) Epilogue.Store(output, at + 4, c4, o, bias, mask, flags);
        if (x0 + 5 < wo) Epilogue.Store(output, at + 5, c5, o, bias, mask, flags);
        if (x0 + 6 < wo) Epilogue.Store(output, at + 6, c6, o, bias, mask, flags);
        if (x0 + 7 < wo) Epilogue.Store(output, at + 7, c7, o, bias, mask, flags);
    }

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

    /// <summary>The weight gradient's register tile: 8 gradient-side channels x 4 input-side channels of one tap.</summary>
    public const int GradTileOut = 8, GradTileIn = 4;

    public static int WeightGradThreads(ConvShape s, int chunks) =>
        DivUp(s.OutChannels, GradTileOut) * DivUp(s.InChannels, GradTileIn) * s.Kernel * s.Kernel * chunks;

    /// <summary>
    /// Partial weight gradient over one slice of the batch:
    /// partials[c, o, i, u, v] = sum_{b in chunk c, y, x} grad[b, o, y, x] * input[b, i, y+u, x+v]
    /// for grad (B, Out, Ho, Wo) and input (B, In, H, W) of shape <paramref name="s"/>.
    /// One thread owns an 8 (o) x 4 (i) tile of one tap (u, v) of one chunk: no atomics; the chunks are
    /// summed in a fixed order by <see cref="ReductionKernels.SumPartials"/>. The bias gradient rides along
    /// (see <see cref="BiasPartials"/>), so a layer's whole parameter gradient is one launch and one sum.
    /// </summary>
    public static void WeightGradPartials(
        Index1D index, int stride, ConvShape s, ArrayView<float> grad, ArrayView<float> input, int chunks,
        ArrayView<float> biasSource, int biasChannels, int biasPlane, ArrayView<float> partials)
    {
        int chunkStride = s.WeightLength + biasChannels;
        for (int tile = index; tile < WeightGradThreads(s, chunks); tile += stride)
            WeightGradTile(tile, s, grad, input, chunks, chunkStride, partials);
        BiasPartials(index, stride, s.Batch, chunks, chunkStride, s.WeightLength, biasSource, biasChannels, biasPlane, partials);
    }

    /// <summary>
    /// The bias gradient beside the weight gradient: partials[chunk * chunkStride + at + c] = sum over the
    /// chunk's images and the plane of source (B, channels, plane) channel c, in order. The source is the
    /// gradient side for a convolution and the input side for a transposed one; 0 channels means no bias.
    /// </summary>
    static void BiasPartials(
        int index, int stride, int batch, int chunks, int chunkStride, int at,
        ArrayView<float> source, int channels, int plane, ArrayView<float> partials)
    {
        for (int item = index; item < chunks * channels; item += stride)
            partials[(item / channels) * chunkStride + at + item % channels] = ChannelSumOf(item, source, batch, channels, plane, chunks);
    }

    static void WeightGradTile(
        int tile, ConvShape s, ArrayView<float> grad, ArrayView<float> input, int chunks, int chunkStride, ArrayView<float> partials)
    {
        int k = s.Kernel, oc = s.OutChannels, ic = s.InChannels;
        int oTiles = DivUp(oc, GradTileOut), iTiles = DivUp(ic, GradTileIn);
        int t = tile;
        int v = t % k; t /= k;
        int u = t % k; t /= k;
        int i0 = (t % iTiles) * GradTileIn; t /= iTiles;
        int o0 = (t % oTiles) * GradTileOut;
        int chunk = t / oTiles;

        int perChunk = DivUp(s.Batch, chunks);
        int bStart = chunk * perChunk, bEnd = Min(bStart + perChunk, s.Batch);
        int ho = s.OutHeight, wo = s.OutWidth, h = s.InHeight, w = s.InWidth;
        int gPlane = ho * wo, xPlane = h * w, shift = u * w + v;

        float a00 = 0, a01 = 0, a02 = 0, a03 = 0, a10 = 0, a11 = 0, a12 = 0, a13 = 0;
        float a20 = 0, a21 = 0, a22 = 0, a23 = 0, a30 = 0, a31 = 0, a32 = 0, a33 = 0;
        float a40 = 0, a41 = 0, a42 = 0, a43 = 0, a50 = 0, a51 = 0, a52 = 0, a53 = 0;
        float a60 = 0, a61 = 0, a62 = 0, a63 = 0, a70 = 0, a71 = 0, a72 = 0, a73 = 0;
        for (int b = bStart; b < bEnd; b++)
        {
            // Planes past the last channel are read clamped and never stored.
            int gb = b * oc, xb = b * ic;
            int g0 = (gb + o0) * gPlane, g1 = (gb + Min(o0 + 1, oc - 1)) * gPlane;
            int g2 = (gb + Min(o0 + 2, oc - 1)) * gPlane, g3 = (gb + Min(o0 + 3, oc - 1)) * gPlane;
            int g4 = (gb + Min(o0 + 4, oc - 1)) * gPlane, g5 = (gb + Min(o0 + 5, oc - 1)) * gPlane;
            int g6 = (gb + Min(o0 + 6, oc - 1)) * gPlane, g7 = (gb + Min(o0 + 7, oc - 1)) * gPlane;
            int x0 = (xb + i0) * xPlane + shift, x1 = (xb + Min(i0 + 1, ic - 1)) * xPlane + shift;
            int x2 = (xb + Min(i0 + 2, ic - 1)) * xPlane + shift, x3 = (xb + Min(i0 + 3, ic - 1)) * xPlane + shift;
            for (int y = 0; y < ho; y++)
            {
                int gRow = y * wo, xRow = y * w;
                for (int x = 0; x < wo; x++)
                {
                    int gi = gRow + x, xi = xRow + x;
                    float q0 = input[x0 + xi], q1 = input[x1 + xi], q2 = input[x2 + xi], q3 = input[x3 + xi];
                    float p = grad[g0 + gi]; a00 += p * q0; a01 += p * q1; a02 += p * q2; a03 += p * q3;
                    p = grad[g1 + gi]; a10 += p * q0; a11 += p * q1; a12 += p * q2; a13 += p * q3;
                    p = grad[g2 + gi]; a20 += p * q0; a21 += p * q1; a22 += p * q2; a23 += p * q3;
                    p = grad[g3 + gi]; a30 += p * q0; a31 += p * q1; a32 += p * q2; a33 += p * q3;
                    p = grad[g4 + gi]; a40 += p * q0; a41 += p * q1; a42 += p * q2; a43 += p * q3;
                    p = grad[g5 + gi]; a50 += p * q0; a51 += p * q1; a52 += p * q2; a53 += p * q3;
                    p = grad[g6 + gi]; a60 += p * q0; a61 += p * q1; a62 += p * q2; a63 += p * q3;
                    p = grad[g7 + gi]; a70 += p * q0; a71 += p * q1; a72 += p * q2; a73 += p * q3;
                }
            }
        }

        int kk = k * k, tap = u * k + v, baseOffset = chunk * chunkStride;
        StoreGradRow(partials, baseOffset, o0, i0, oc, ic, kk, tap, a00, a01, a02, a03);
        StoreGradRow(partials, baseOffset, o0 + 1, i0, oc, ic, kk, tap, a10, a11, a12, a13);
        StoreGradRow(partials, baseOffset, o0 + 2, i0, oc, ic, kk, tap, a20, a21, a22, a23);
        StoreGradRow(partials, baseOffset, o0 + 3, i0, oc, ic, kk, tap, a30, a31, a32, a33);
        StoreGradRow(partials, baseOffset, o0 + 4, i0, oc, ic, kk, tap, a40, a41, a42, a43);
        StoreGradRow(partials, baseOffset, o0 + 5, i0, oc, ic, kk, tap, a50, a51, a52, a53);
        StoreGradRow(partials, baseOffset, o0 + 6, i0, oc, ic, kk, tap, a60, a61, a62, a63);
        StoreGradRow(partials, baseOffset, o0 + 7, i0, oc, ic, kk, tap, a70, a71, a72, a73);
    }

    /// <summary>Weight-gradient version 2's tile: gradient-side channels per work-item (x 3 taps of one kernel row).</summary>
    public const int GradRowChannels = 4;

    public static bool WeightGradRowsFits(ConvShape s) => s.OutWidth <= RowLanes;

    public static int WeightGradRowsThreads(ConvShape s, int chunks) =>
        DivUp(s.OutChannels, GradRowChannels) * s.InChannels * s.Kernel * chunks;

    /// <summary>
    /// Version 2 of <see cref="WeightGradPartials"/> (same result layout), for CPUs behind OpenCL like conv v4:
    /// a work-item owns 4 gradient-side channels o, one input channel i, one kernel row u and one chunk of
    /// the batch, and keeps per-column sums for three taps (v, v+1, v+2) in a private array; its innermost
    /// loop runs over <see cref="RowLanes"/> columns (SIMD). At the end each column array is summed in column
    /// order, so the result is the same on every rerun.
    /// </summary>
    public static void WeightGradRows(
        Index1D index, int stride, ConvShape s, ArrayView<float> grad, ArrayView<float> input, int chunks,
        ArrayView<float> biasSource, int biasChannels, int biasPlane, ArrayView<float> partials)
    {
        int chunkStride = s.WeightLength + biasChannels;
        var acc = LocalMemory.Allocate<float>(GradRowChannels * 3 * RowLanes);
        int k = s.Kernel, kk = k * k, oc = s.OutChannels, ic = s.InChannels;
        int ho = s.OutHeight, wo = s.OutWidth, h = s.InHeight, w = s.InWidth, oTiles = DivUp(oc, GradRowChannels);
        int perChunk = DivUp(s.Batch, chunks);
        for (int item = index; item < WeightGradRowsThreads(s, chunks); item += stride)
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
                for (int j = 0; j < GradRowChannels * 3 * RowLanes; j++) acc[j] = 0f;
                for (int b = bStart; b < bEnd; b++)
                {
                    int g0 = (b * oc + o0) * ho * wo, g1 = (b * oc + c1) * ho * wo, g2 = (b * oc + c2) * ho * wo, g3 = (b * oc + c3) * ho * wo;
                    int xPlane = ((b * ic + i) * h + u) * w + v;
                    for (int y = 0; y < ho; y++)
                    {
                        int gy = y * wo, xy = xPlane + y * w;
                        for (int x = 0; x < RowLanes; x++)
                        {
                            bool inRow = x < wo;
                            float q0 = inRow ? grad[g0 + gy + x] : 0f, q1 = inRow ? grad[g1 + gy + x] : 0f;
                            float q2 = inRow ? grad[g2 + gy + x] : 0f, q3 = inRow ? grad[g3 + gy + x] : 0f;
                            float p0 = inRow ? input[xy + x] : 0f;
                            float p1 = inRow && has1 ? input[xy + x + 1] : 0f;
                            float p2 = inRow && has2 ? input[xy + x + 2] : 0f;
                            acc[x] += q0 * p0; acc[RowLanes + x] += q0 * p1; acc[2 * RowLanes + x] += q0 * p2;
                            acc[3 * RowLanes + x] += q1 * p0; acc[4 * RowLanes + x] += q1 * p1; acc[5 * RowLanes + x] += q1 * p2;
                            acc[6 * RowLanes + x] += q2 * p0; acc[7 * RowLanes + x] += q2 * p1; acc[8 * RowLanes + x] += q2 * p2;
                            acc[9 * RowLanes + x] += q3 * p0; acc[10 * RowLanes + x] += q3 * p1; acc[11 * RowLanes + x] += q3 * p2;
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
                        int a = (c * 3 + j) * RowLanes;
                        for (int x = 0; x < RowLanes; x++) sum += acc[a + x];
                        partials[baseOffset + (o * ic + i) * kk + u * k + v + j] = sum;
                    }
                }
            }
        }
        BiasPartials(index, stride, s.Batch, chunks, chunkStride, s.WeightLength, biasSource, biasChannels, biasPlane, partials);
    }

    static void StoreGradRow(
        ArrayView<float> partials, int baseOffset, int o, int i0, int oc, int ic, int kk, int tap,
        float c0, float c1, float c2, float c3)
    {
        if (o >= oc) return;
        int at = baseOffset + (o * ic + i0) * kk + tap;
        partials[at] = c0;
        if (i0 + 1 < ic) partials[at + kk] = c1;
        if (i0 + 2 < ic) partials[at + 2 * kk] = c2;
        if (i0 + 3 < ic) partials[at + 3 * kk] = c3;
    }

    /// <summary>
    /// partials[c, ch] = sum_{b in chunk c, spatial} grad[b, ch, .]: the bias gradient before the fixed-order
    /// sum over chunks. One thread per (chunk, channel).
    /// </summary>
    public static void ChannelSumPartials(
        Index1D index, int stride, ArrayView<float> grad, int batch, int channels, int plane, int chunks, ArrayView<float> partials)
    {
        for (int i = index; i < chunks * channels; i += stride)
            partials[i] = ChannelSumOf(i, grad, batch, channels, plane, chunks);
    }

    static float ChannelSumOf(int index, ArrayView<float> grad, int batch, int channels, int plane, int chunks)
    {
        int ch = index % channels, chunk = index / channels;
        int perChunk = DivUp(batch, chunks);
        int bEnd = Min(chunk * perChunk + perChunk, batch);
        float sum = 0;
        for (int b = chunk * perChunk; b < bEnd; b++)
        {
            int start = (b * channels + ch) * plane;
            for (int j = 0; j < plane; j++) sum += grad[start + j];
        }
        return sum;
    }

    /// <summary>c + a * b, rounded twice like every other kernel here (ILGPU 1.5.3's OpenCL backend emits an
    /// undefined FusedMultiplyAdd for MathF.FusedMultiplyAdd, so no version uses it).</summary>
    internal static float MulAdd(float a, float b, float c) => c + a * b;

    internal static int DivUp(int a, int b) => (a + b - 1) / b;
    internal static int Min(int a, int b) => a < b ? a : b;
}
