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
    /// 4, whose tile, packed path and row store it calls with the width 16 (B packed where its columns are
    /// strided and K short; blocks of column tiles otherwise); a ragged last tile runs version 4's tile for
    /// each half. With AVX2's 16 registers the accumulators would not fit: version 4 serves those CPUs.
    /// </summary>
    public static void LaneWide(Index1D index, int stride, GemmArgs args)
    {
        GemmShape s = args.Shape;
        int splits = args.Splits, flags = args.Flags;
        ArrayView<float> a = args.A, b = args.B, bias = args.Bias, mask = args.Mask, c = args.C;
        const int half = LaneRows * Lanes;
        var acc = LocalMemory.Allocate<float>(2 * half);
        var right = acc.SubView(half, half);
        int nTiles = DivUp(s.N, WideLanes), mTiles = DivUp(s.M, LaneRows);
        int perSplit = DivUp(s.K, splits);
        if (LaneTiledPacks(s))
        {
            var packed = LocalMemory.Allocate<float>(PackedMaxK * WideLanes);
            for (int item = index; item < LaneWideThreads(s, splits); item += stride)
                PackedColumns(s, a, b, splits, bias, mask, flags, c, acc, packed, item, nTiles, mTiles, perSplit, WideLanes);
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
                LaneTile(s, a, b, acc, m0, n0, kStart, kEnd, WideLanes);
            else
            {
                LaneTile(s, a, b, acc, m0, n0, kStart, kEnd, Lanes);
                if (columns > Lanes) LaneTile(s, a, b, right, m0, n0 + Lanes, kStart, kEnd, Lanes);
            }
            StoreRows(s, bias, mask, splits == 1 ? flags : 0, c, acc, m0, n0, splits == 1 ? 0 : split * s.M * s.N, WideLanes);
        }
    }
}
