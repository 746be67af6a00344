using ILGPU;
using ILGPU.Runtime;
using static Vae.Gpu.Kernels.KernelIndex;

namespace Vae.Gpu.Kernels;

public static partial class GemmKernels
{
    /// <summary>Columns of C per work-item of version 6: two 8-lane tiles side by side.</summary>
    public const int WideLanes = 2 * Lanes;

    public static int LaneWideThreads(GemmShape s, int splits) =>
        (LaneTiledPacks(s) ? 1 : DivUp(s.M, LaneRows)) * DivUp(s.N, WideLanes) * splits;

    /// <summary>
    /// Version 6, for SIMD CPUs with 32 vector registers (AVX-512): version 4 with 8 rows x 16 columns per
    /// work-item, 16 accumulator vectors. Each k's 8 broadcast values of A feed 16 FMAs on two vectors of B
    /// (version 4: 8 on one), and a work-item's rows of C are written 64 bytes at a time. Same paths as version
    /// 4 (B packed where its columns are strided and K short; blocks of column tiles otherwise); a ragged last
    /// tile runs version 4's tile for each half. With AVX2's 16 registers the accumulators would not fit:
    /// version 4 serves those CPUs.
    /// </summary>
    public static void LaneWide(
        Index1D index, int stride, GemmShape s, ArrayView<float> a, ArrayView<float> b, int splits,
        ArrayView<float> bias, ArrayView<float> mask, int flags, ArrayView<float> c)
    {
        const int half = LaneRows * Lanes;
        var acc = LocalMemory.Allocate<float>(2 * half);
        var right = acc.SubView(half, half);
        int nTiles = DivUp(s.N, WideLanes), mTiles = DivUp(s.M, LaneRows);
        int perSplit = DivUp(s.K, splits);
        if (LaneTiledPacks(s))
        {
            var packed = LocalMemory.Allocate<float>(PackedMaxK * WideLanes);
            for (int item = index; item < LaneWideThreads(s, splits); item += stride)
                WidePackedColumns(s, a, b, splits, bias, mask, flags, c, acc, packed, item, nTiles, mTiles, perSplit);
            return;
        }
        const int blockTiles = LaneBlockTiles / 2;
        for (int item = index; item < LaneWideThreads(s, splits); item += stride)
        {
            int split = item / (mTiles * nTiles), t = item % (mTiles * nTiles);
            // Blocks of column tiles, as in version 4.
            int block = t / (blockTiles * mTiles), first = block * blockTiles;
            int width = Min(blockTiles, nTiles - first), within = t - first * mTiles;
            int m0 = (within / width) * LaneRows;
            int n0 = (first + within % width) * WideLanes;
            int kStart = split * perSplit, kEnd = Min(kStart + perSplit, s.K), columns = s.N - n0;
            if (columns >= WideLanes && s.StrideBn == 1)
                WideTile(s, a, b, acc, m0, n0, kStart, kEnd);
            else
            {
                LaneTile(s, a, b, acc, m0, n0, kStart, kEnd);
                if (columns > Lanes) LaneTile(s, a, b, right, m0, n0 + Lanes, kStart, kEnd);
            }
            int offset = splits == 1 ? 0 : split * s.M * s.N;
            int storeFlags = splits == 1 ? flags : 0;
            StoreWide(s, bias, mask, storeFlags, c, acc, right, m0, n0, offset);
        }
    }

    /// <summary>Rows m0 .. m0 + 7 x the full 16 contiguous columns n0 .. of B over k in [kStart, kEnd).</summary>
    static void WideTile(GemmShape s, ArrayView<float> a, ArrayView<float> b, ArrayView<float> acc,
        int m0, int n0, int kStart, int kEnd)
    {
        const int half = LaneRows * Lanes;
        int r0 = m0 * s.StrideAm, r1 = Min(m0 + 1, s.M - 1) * s.StrideAm;
        int r2 = Min(m0 + 2, s.M - 1) * s.StrideAm, r3 = Min(m0 + 3, s.M - 1) * s.StrideAm;
        int r4 = Min(m0 + 4, s.M - 1) * s.StrideAm, r5 = Min(m0 + 5, s.M - 1) * s.StrideAm;
        int r6 = Min(m0 + 6, s.M - 1) * s.StrideAm, r7 = Min(m0 + 7, s.M - 1) * s.StrideAm;
        for (int j = 0; j < 2 * half; j++) acc[j] = 0f;
        for (int k = kStart; k < kEnd; k++)
        {
            int ak = k * s.StrideAk;
            float p0 = a[r0 + ak], p1 = a[r1 + ak], p2 = a[r2 + ak], p3 = a[r3 + ak];
            float p4 = a[r4 + ak], p5 = a[r5 + ak], p6 = a[r6 + ak], p7 = a[r7 + ak];
            var row = b.SubView(k * s.StrideBk + n0, WideLanes);
            for (int x = 0; x < Lanes; x++)
            {
                LaneTiles.AccumulateColumn(acc, x, row[x], p0, p1, p2, p3, p4, p5, p6, p7);
                LaneTiles.AccumulateColumn(acc, half + x, row[Lanes + x], p0, p1, p2, p3, p4, p5, p6, p7);
            }
        }
    }

    /// <summary>
    /// Work-item <paramref name="item"/> of the packed path: B's 16 strided columns n0.. of its K slice copied
    /// once into packed[k, x] (missing columns 0), then every 8-row tile of C from it.
    /// </summary>
    static void WidePackedColumns(GemmShape s, ArrayView<float> a, ArrayView<float> b, int splits,
        ArrayView<float> bias, ArrayView<float> mask, int flags, ArrayView<float> c,
        ArrayView<float> acc, ArrayView<float> packed, int item, int nTiles, int mTiles, int perSplit)
    {
        const int half = LaneRows * Lanes;
        var right = acc.SubView(half, half);
        int n0 = (item % nTiles) * WideLanes;
        int split = item / nTiles;
        int kStart = split * perSplit, kEnd = Min(kStart + perSplit, s.K), columns = s.N - n0;
        for (int k = kStart; k < kEnd; k++)
            for (int x = 0; x < WideLanes; x++)
                packed[(k - kStart) * WideLanes + x] = x < columns ? b[k * s.StrideBk + (n0 + x) * s.StrideBn] : 0f;
        int offset = splits == 1 ? 0 : split * s.M * s.N;
        int storeFlags = splits == 1 ? flags : 0;
        for (int mt = 0; mt < mTiles; mt++)
        {
            int m0 = mt * LaneRows;
            int r0 = m0 * s.StrideAm, r1 = Min(m0 + 1, s.M - 1) * s.StrideAm;
            int r2 = Min(m0 + 2, s.M - 1) * s.StrideAm, r3 = Min(m0 + 3, s.M - 1) * s.StrideAm;
            int r4 = Min(m0 + 4, s.M - 1) * s.StrideAm, r5 = Min(m0 + 5, s.M - 1) * s.StrideAm;
            int r6 = Min(m0 + 6, s.M - 1) * s.StrideAm, r7 = Min(m0 + 7, s.M - 1) * s.StrideAm;
            for (int j = 0; j < 2 * half; j++) acc[j] = 0f;
            for (int k = kStart; k < kEnd; k++)
            {
                int ak = k * s.StrideAk;
                float p0 = a[r0 + ak], p1 = a[r1 + ak], p2 = a[r2 + ak], p3 = a[r3 + ak];
                float p4 = a[r4 + ak], p5 = a[r5 + ak], p6 = a[r6 + ak], p7 = a[r7 + ak];
                var row = packed.SubView((k - kStart) * WideLanes, WideLanes);
                for (int x = 0; x < Lanes; x++)
                {
                    LaneTiles.AccumulateColumn(acc, x, row[x], p0, p1, p2, p3, p4, p5, p6, p7);
                    LaneTiles.AccumulateColumn(acc, half + x, row[Lanes + x], p0, p1, p2, p3, p4, p5, p6, p7);
                }
            }
            StoreWide(s, bias, mask, storeFlags, c, acc, right, m0, n0, offset);
        }
    }

    /// <summary>The tile's rows of C: the left 8 columns from <paramref name="left"/>, the rest from
    /// <paramref name="right"/>, each through the lane epilogue (ragged widths through the general one).</summary>
    static void StoreWide(GemmShape s, ArrayView<float> bias, ArrayView<float> mask, int flags, ArrayView<float> c,
        ArrayView<float> left, ArrayView<float> right, int m0, int n0, int offset)
    {
        int columns = s.N - n0;
        for (int r = 0; r < LaneRows; r++)
        {
            int m = m0 + r;
            if (m >= s.M) break;
            LaneTiles.Store(c, offset + m * s.N + n0, left, r * Lanes, columns, n0, 1, bias, mask, flags);
            if (columns > Lanes)
                LaneTiles.Store(c, offset + m * s.N + n0 + Lanes, right, r * Lanes, columns - Lanes, n0 + Lanes, 1, bias, mask, flags);
        }
    }
}
