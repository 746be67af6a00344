using System.Runtime.CompilerServices;
using ILGPU;
using static Vae.Gpu.Kernels.KernelIndex;

namespace Vae.Gpu.Kernels;

/// <summary>
/// What the CPU-shaped lane versions share (conv v5-v7, weight-gradient v3, GEMM v4/v5, the BCE's lane runs, the
/// linear bias sums): a work-item's innermost loop runs exactly <see cref="Width"/> (or <see cref="WideWidth"/>)
/// times with no condition in it, so LLVM makes it one vector and keeps the accumulators in registers. The
/// methods that take <c>lanes</c> are inlined into kernels that pass a constant, so each kernel's loops keep a
/// fixed trip count.
/// </summary>
public static class LaneTiles
{
    /// <summary>Lanes of a tile row: one 8-float vector (256 bits).</summary>
    public const int Width = 8;

    /// <summary>Lanes of the wide versions' tile rows: one 16-float vector where PoCL emits 512-bit code
    /// (<c>PoclWideVectors</c>), else two 8-float halves.</summary>
    public const int WideWidth = 16;

    /// <summary>Column x of an 8-row tile: acc[r, x] += p_r * q (8 accumulator vectors, q broadcast or loaded).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AccumulateColumn(ArrayView<float> acc, int x, float q,
        float p0, float p1, float p2, float p3, float p4, float p5, float p6, float p7) =>
        MulAdd8(acc, x, Width, p0, p1, p2, p3, p4, p5, p6, p7, q, q, q, q, q, q, q, q);

    /// <summary><see cref="AccumulateColumn(ArrayView{float}, int, float, float, float, float, float, float, float, float, float)"/>
    /// for rows of <paramref name="lanes"/> accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AccumulateColumn(ArrayView<float> acc, int x, int lanes, float q,
        float p0, float p1, float p2, float p3, float p4, float p5, float p6, float p7) =>
        MulAdd8(acc, x, lanes, p0, p1, p2, p3, p4, p5, p6, p7, q, q, q, q, q, q, q, q);

    /// <summary>Lane x of 8 accumulator rows: acc[r, x] += p_r * q_r, the one update every lane version makes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void MulAdd8(ArrayView<float> acc, int x,
        float p0, float p1, float p2, float p3, float p4, float p5, float p6, float p7,
        float q0, float q1, float q2, float q3, float q4, float q5, float q6, float q7) =>
        MulAdd8(acc, x, Width, p0, p1, p2, p3, p4, p5, p6, p7, q0, q1, q2, q3, q4, q5, q6, q7);

    /// <summary>Lane x of 8 accumulator rows of <paramref name="lanes"/> each.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void MulAdd8(ArrayView<float> acc, int x, int lanes,
        float p0, float p1, float p2, float p3, float p4, float p5, float p6, float p7,
        float q0, float q1, float q2, float q3, float q4, float q5, float q6, float q7)
    {
        acc[x] = MulAdd(p0, q0, acc[x]);
        acc[lanes + x] = MulAdd(p1, q1, acc[lanes + x]);
        acc[2 * lanes + x] = MulAdd(p2, q2, acc[2 * lanes + x]);
        acc[3 * lanes + x] = MulAdd(p3, q3, acc[3 * lanes + x]);
        acc[4 * lanes + x] = MulAdd(p4, q4, acc[4 * lanes + x]);
        acc[5 * lanes + x] = MulAdd(p5, q5, acc[5 * lanes + x]);
        acc[6 * lanes + x] = MulAdd(p6, q6, acc[6 * lanes + x]);
        acc[7 * lanes + x] = MulAdd(p7, q7, acc[7 * lanes + x]);
    }

    /// <summary>Whether column <paramref name="column"/> lies in a row of <paramref name="width"/>: one unsigned
    /// 32-bit compare, which a vectorizer makes one 16-lane mask. (Two signed tests of the column became two pairs
    /// of 64-bit compares per mask on PoCL, whose latency before each masked load stalled the padded
    /// convolutions' taps.)</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool InRow(int column, int width) => (uint)column < (uint)width;

    /// <summary>The 8 lanes at acc[at..] summed pairwise in a fixed order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Sum(ArrayView<float> acc, int at) =>
        ((acc[at] + acc[at + 1]) + (acc[at + 2] + acc[at + 3])) + ((acc[at + 4] + acc[at + 5]) + (acc[at + 6] + acc[at + 7]));

    /// <summary>The <see cref="WideWidth"/> lanes at acc[at..]: each half of 8 as <see cref="Sum"/>, then the halves.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float WideSum(ArrayView<float> acc, int at) => Sum(acc, at) + Sum(acc, at + Width);

    /// <summary>Finishes <paramref name="width"/> outputs of a tile row: the fixed-width epilogue for a full row,
    /// the general one for a ragged last row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(ArrayView<float> output, int at, ArrayView<float> row, int from, int width, int biasAt, int biasStep,
        ArrayView<float> bias, ArrayView<float> mask, int flags) =>
        Store(output, at, row, from, width, biasAt, biasStep, bias, mask, flags, Width);

    /// <summary><see cref="Store(ArrayView{float}, int, ArrayView{float}, int, int, int, int, ArrayView{float}, ArrayView{float}, int)"/>
    /// for tile rows of <paramref name="lanes"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(ArrayView<float> output, int at, ArrayView<float> row, int from, int width, int biasAt, int biasStep,
        ArrayView<float> bias, ArrayView<float> mask, int flags, int lanes)
    {
        if (width >= lanes) Epilogue.StoreLanes(output, at, row, from, biasAt, biasStep, bias, mask, flags, lanes);
        else Epilogue.StoreRow(output, at, row, from, width, biasAt, biasStep, bias, mask, flags);
    }

    /// <summary>
    /// Finishes a conv work-item's block of tile rows: <paramref name="rows"/> x <paramref name="chans"/> tile rows,
    /// row r of channel o0 + c at output at0 + c * chanStride + r * rowStride from acc[r * rowAcc + c * lanes], each
    /// as <see cref="StoreTile"/> does. The step's two flag combinations are tested once for the block: inlined
    /// with a constant, StoreLanes' dispatch folds away (tested per row, with its index arithmetic, it held 40 % of
    /// the samples of a convolution with one input channel, whose sums are 9 taps).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreBlock(ArrayView<float> output, int at0, int rowStride, int chanStride, int rows, int chans,
        ArrayView<float> acc, int rowAcc, int skip, int width, int o0, ArrayView<float> bias, ArrayView<float> mask, int flags, int lanes)
    {
        const int biasRelu = (int)(EpilogueFlags.Bias | EpilogueFlags.Relu), maskPositive = (int)EpilogueFlags.MaskPositive;
        if (rows <= 0 || chans <= 0) return;
        if (width >= lanes && flags == biasRelu)
            StoreBlockLanes(output, at0, rowStride, chanStride, rows, chans, acc, rowAcc, o0, bias, mask, biasRelu, lanes);
        else if (width >= lanes && flags == maskPositive)
            StoreBlockLanes(output, at0, rowStride, chanStride, rows, chans, acc, rowAcc, o0, bias, mask, maskPositive, lanes);
        else
        {
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < chans; c++)
                    StoreTile(output, at0 + c * chanStride + r * rowStride, acc, r * rowAcc + c * lanes, skip, width, o0 + c, bias, mask, flags, lanes);
        }
    }

    /// <summary><see cref="StoreBlock"/>'s full vectors with <paramref name="flags"/> a constant (neither adds the
    /// output to itself, so an overlapping tile's repeated columns are rewritten with their own values).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StoreBlockLanes(ArrayView<float> output, int at0, int rowStride, int chanStride, int rows, int chans,
        ArrayView<float> acc, int rowAcc, int o0, ArrayView<float> bias, ArrayView<float> mask, int flags, int lanes)
    {
        int r = 0;
        do
        {
            int c = 0;
            do
            {
                Epilogue.StoreLanes(output, at0 + c * chanStride + r * rowStride, acc, r * rowAcc + c * lanes, o0 + c, 0, bias, mask, flags, lanes);
            } while (++c < chans);
        } while (++r < rows);
    }

    /// <summary>Finishes a conv tile row that starts at output column x0 (<paramref name="at"/>, <paramref name="from"/>)
    /// and whose first <paramref name="skip"/> columns the row's tile before it also covers (a row's overlapping
    /// last tile; 0 for any other); <paramref name="width"/> is the row's width from x0. Those columns hold the
    /// same sums in the same order as in the tile before, so unless the epilogue adds the output to itself
    /// (Accumulate) the whole tile is stored in full vectors, writing those columns' values again: the general
    /// epilogue at the remaining width, a remainder loop, cost more than the tile's sums. A row narrower than a
    /// tile takes the general epilogue.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StoreTile(ArrayView<float> output, int at, ArrayView<float> row, int from, int skip, int width, int biasAt,
        ArrayView<float> bias, ArrayView<float> mask, int flags, int lanes)
    {
        if (width >= lanes && (skip == 0 || (flags & (int)EpilogueFlags.Accumulate) == 0))
            Epilogue.StoreLanes(output, at, row, from, biasAt, 0, bias, mask, flags, lanes);
        else
            Epilogue.StoreRow(output, at + skip, row, from + skip, width - skip, biasAt, 0, bias, mask, flags);
    }
}
