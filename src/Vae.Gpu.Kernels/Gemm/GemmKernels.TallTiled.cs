using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;
using static Vae.Gpu.Kernels.KernelIndex;

namespace Vae.Gpu.Kernels;

public static partial class GemmKernels
{
    /// <summary>Version 9's tile: <see cref="LaneTiles.WideWidth"/> rows (the vector) x <see cref="TallColumns"/> columns.</summary>
    public const int TallColumns = 16;

    /// <summary>Row tiles ahead whose lines of A version 9 asks for.</summary>
    const int TallAhead = 2;

    public static int TallTiledThreads(GemmShape s, int splits) =>
        DivUp(s.M, LaneTiles.WideWidth) * DivUp(s.N, TallColumns) * splits;

    /// <summary>
    /// Version 9, for products whose A has its rows contiguous (stride 1 along M) and whose C has few columns: the
    /// linear layers' weight gradients with a short side (the decoder's Linear, 18432x16x128, whose A is the
    /// output gradient transposed). A work-item computes 16 rows x 16 columns with the vector down the rows: each k
    /// loads one 16-row vector of A (one cache line of a row of the stored gradient) and broadcasts 16 values of B
    /// for 16 FMAs, so every line of A is read once, by one work-item. Versions 4, 6 and 7 put their vectors along
    /// C's 16 columns and broadcast 8 values of A a k: 9 loads for 8 FMAs, from lines of A that lie a row of the
    /// stored gradient (74 KB) apart and share one set of L1. The tile's rows past M read 0; its columns past N read B's last column and are not stored. The sums
    /// run over k in order, as in versions 1, 3, 4, 6 and 7. Where <see cref="GemmArgs.SumRows"/> asks (one
    /// slice), the first column tile also writes its rows' sums of A over K there, one more vector add a k: a linear
    /// layer's bias gradient in its weight gradient's pass over the output gradient.
    /// </summary>
    public static void TallTiled(Index1D index, int stride, GemmArgs args)
    {
        const int lanes = LaneTiles.WideWidth, columns = TallColumns;
        GemmShape s = args.Shape;
        int splits = args.Splits, flags = args.Flags;
        ArrayView<float> a = args.A, b = args.B, bias = args.Bias, mask = args.Mask, c = args.C, rowSums = args.RowSums;
        var acc = LocalMemory.Allocate<float>(columns * lanes);
        var sums = LocalMemory.Allocate<float>(lanes);
        var row = LocalMemory.Allocate<float>(columns);
        int mTiles = DivUp(s.M, lanes), nTiles = DivUp(s.N, columns), perSplit = DivUp(s.K, splits);
        for (int item = index; item < TallTiledThreads(s, splits); item += stride)
        {
            // The column tiles of a row tile are neighbours, so a core reads A's lines of a row tile together.
            int nt = item % nTiles, t = item / nTiles;
            int m0 = (t % mTiles) * lanes, split = t / mTiles;
            int n0 = nt * columns;
            int kStart = split * perSplit, kEnd = Min(kStart + perSplit, s.K);
            for (int j = 0; j < columns * lanes; j++) acc[j] = 0f;
            for (int x = 0; x < lanes; x++) sums[x] = 0f;
            if (kStart < kEnd)
            {
                if (m0 + lanes <= s.M) TallTile(s, a, b, acc, sums, m0, n0, kStart, kEnd, true);
                else TallTile(s, a, b, acc, sums, m0, n0, kStart, kEnd, false);
            }
            int offset = splits == 1 ? 0 : split * s.M * s.N, storeFlags = splits == 1 ? flags : 0;
            int width = Min(columns, s.N - n0), rows = Min(lanes, s.M - m0);
            if (args.SumRows != 0 && nt == 0)
                for (int r = 0; r < rows; r++) rowSums[m0 + r] = sums[r];
            for (int r = 0; r < rows; r++)
            {
                for (int j = 0; j < columns; j++) row[j] = acc[j * lanes + r];
                LaneTiles.Store(c, offset + (m0 + r) * s.N + n0, row, 0, width, n0, 1, bias, mask, storeFlags, columns);
            }
        }
    }

    /// <summary>Rows m0 .. m0 + 15 x columns n0 .. n0 + 15 of C over k in [kStart, kEnd) into acc (column j's 16 rows
    /// at acc[16 j ..]) and the rows' sums of A into <paramref name="sums"/>; <paramref name="full"/> false where the
    /// tile's last rows lie past M (read as 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void TallTile(GemmShape s, ArrayView<float> a, ArrayView<float> b, ArrayView<float> acc, ArrayView<float> sums,
        int m0, int n0, int kStart, int kEnd, bool full)
    {
        const int lanes = LaneTiles.WideWidth;
        int last = s.N - 1, bn = s.StrideBn, rows = s.M - m0;
        // Columns past N read the last one's B (clamped; never stored).
        int q0 = Min(n0, last) * bn, q1 = Min(n0 + 1, last) * bn, q2 = Min(n0 + 2, last) * bn, q3 = Min(n0 + 3, last) * bn;
        int q4 = Min(n0 + 4, last) * bn, q5 = Min(n0 + 5, last) * bn, q6 = Min(n0 + 6, last) * bn, q7 = Min(n0 + 7, last) * bn;
        int q8 = Min(n0 + 8, last) * bn, q9 = Min(n0 + 9, last) * bn, q10 = Min(n0 + 10, last) * bn, q11 = Min(n0 + 11, last) * bn;
        int q12 = Min(n0 + 12, last) * bn, q13 = Min(n0 + 13, last) * bn, q14 = Min(n0 + 14, last) * bn, q15 = Min(n0 + 15, last) * bn;
        // The same rows' line TallAhead tiles further down, which this core computes soon: A's rows are 128
        // streams the hardware prefetchers do not follow.
        int ahead = Min(m0 + TallAhead * lanes, s.M - 1);
        int k = kStart;
        do
        {
            CachePrefetch.Line(ref a[ahead + k * s.StrideAk]);
            int bk = k * s.StrideBk;
            float p0 = b[bk + q0], p1 = b[bk + q1], p2 = b[bk + q2], p3 = b[bk + q3];
            float p4 = b[bk + q4], p5 = b[bk + q5], p6 = b[bk + q6], p7 = b[bk + q7];
            float p8 = b[bk + q8], p9 = b[bk + q9], p10 = b[bk + q10], p11 = b[bk + q11];
            float p12 = b[bk + q12], p13 = b[bk + q13], p14 = b[bk + q14], p15 = b[bk + q15];
            // A view of the 16 rows indexed by the lane alone (no 32-bit wrap check in the loop).
            var column = a.SubView(m0 + k * s.StrideAk, full ? lanes : rows);
            for (int x = 0; x < lanes; x++)
            {
                float v = full || x < rows ? column[x] : 0f;
                sums[x] += v;
                LaneTiles.MulAdd8(acc, x, lanes, v, v, v, v, v, v, v, v, p0, p1, p2, p3, p4, p5, p6, p7);
                LaneTiles.MulAdd8(acc, 8 * lanes + x, lanes, v, v, v, v, v, v, v, v, p8, p9, p10, p11, p12, p13, p14, p15);
            }
        } while (++k < kEnd);
    }
}
