using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;
using static Vae.Gpu.Kernels.KernelIndex;

namespace Vae.Gpu.Kernels;

public static partial class GemmKernels
{
    /// <summary>Columns of C per work-item of version 6: two 8-lane tiles side by side.</summary>
    public const int WideLanes = 2 * Lanes;

    public static int LaneWideThreads(GemmShape s, int splits) => WideThreads(s, splits, Lanes);

    /// <summary>
    /// Version 6, for SIMD CPUs with 32 vector registers (AVX-512): version 4 with 8 rows x 16 columns per
    /// work-item, 16 accumulator vectors. Each k's 8 broadcast values of A feed 16 FMAs on two vectors of B
    /// (version 4: 8 on one), and a work-item's rows of C are written 64 bytes at a time. Same paths as version
    /// 4, whose tile, packed path and row store it calls with the width 16 (B packed where its columns are
    /// strided and K short; blocks of column tiles otherwise); a ragged last tile runs version 4's tile for
    /// each half. With AVX2's 16 registers the accumulators would not fit: version 4 serves those CPUs.
    /// </summary>
    public static void LaneWide(Index1D index, int stride, GemmArgs args) =>
        Wide(index, stride, args, LocalMemory.Allocate<float>(2 * LaneRows * Lanes), LocalMemory.Allocate<float>(PackedMaxK * WideLanes), Lanes);

    /// <summary>Columns of C per work-item of version 7: two 16-lane tiles side by side.</summary>
    public const int WiderLanes = 2 * LaneTiles.WideWidth;

    public static int WideTiledThreads(GemmShape s, int splits) => WideThreads(s, splits, LaneTiles.WideWidth);

    /// <summary>
    /// Version 7: version 6 with vectors of 16 lanes, 8 rows x 32 columns per work-item, for CPUs that run 512-bit
    /// vectors at full width where PoCL emits them (<c>PoclWideVectors</c>): the same 16 accumulator registers
    /// each hold twice the lanes, so each k's 8 broadcast values of A feed twice the FMAs. Same sums in the same
    /// order as versions 4 and 6.
    /// </summary>
    public static void WideTiled(Index1D index, int stride, GemmArgs args) =>
        Wide(index, stride, args, LocalMemory.Allocate<float>(2 * LaneRows * LaneTiles.WideWidth),
            LocalMemory.Allocate<float>(PackedMaxK * WiderLanes), LaneTiles.WideWidth);

    static int WideThreads(GemmShape s, int splits, int lanes) =>
        (LaneTiledPacks(s) ? 1 : DivUp(s.M, LaneRows)) * DivUp(s.N, 2 * lanes) * splits;

    /// <summary>Floats of A that versions 6 and 7 keep in L1 across column tiles (32 KB of its 48).</summary>
    const int SmallAFloats = 8192;

    /// <summary>A product of at most 4 row tiles whose A fits in L1 (the heads' weight gradient, 32x18432x128), which
    /// versions 6 and 7 run a column tile's row tiles in turn rather than blocks of column tiles: its piece of B
    /// (K rows of the tile) is read from memory once. With more rows the writes to C, 8 rows a tile, spread over all
    /// of them (the heads' input gradient, 128 rows, ran slower).</summary>
    static bool RowTilesInTurn(GemmShape s) => s.M <= 4 * LaneRows && (long)s.M * s.K <= SmallAFloats;

    /// <summary>Versions 6 and 7: tiles of two vectors of <paramref name="lanes"/> (a constant in each).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Wide(int index, int stride, GemmArgs args, ArrayView<float> acc, ArrayView<float> packed, int lanes)
    {
        GemmShape s = args.Shape;
        int splits = args.Splits, flags = args.Flags;
        ArrayView<float> a = args.A, b = args.B, bias = args.Bias, mask = args.Mask, c = args.C;
        int half = LaneRows * lanes, width = 2 * lanes;
        var right = acc.SubView(half, half);
        int nTiles = DivUp(s.N, width), mTiles = DivUp(s.M, LaneRows);
        int perSplit = DivUp(s.K, splits);
        if (LaneTiledPacks(s))
        {
            for (int item = index; item < WideThreads(s, splits, lanes); item += stride)
                PackedColumns(s, a, b, splits, bias, mask, flags, c, acc, packed, item, nTiles, mTiles, perSplit, width, lanes);
            return;
        }
        const int blockTiles = LaneBlockTiles / 2;
        bool inTurn = RowTilesInTurn(s);
        for (int item = index; item < WideThreads(s, splits, lanes); item += stride)
        {
            int split = item / (mTiles * nTiles), t = item % (mTiles * nTiles);
            int m0, n0;
            if (inTurn)
            {
                // A stays in L1: a column tile's row tiles one after another, the next tile's piece of B asked for
                // while this one computes.
                m0 = (t % mTiles) * LaneRows;
                n0 = (t / mTiles) * width;
            }
            else
            {
                // Blocks of column tiles, as in version 4.
                int block = t / (blockTiles * mTiles), first = block * blockTiles;
                int blockWidth = Min(blockTiles, nTiles - first), within = t - first * mTiles;
                m0 = (within / blockWidth) * LaneRows;
                n0 = (first + within % blockWidth) * width;
            }
            int kStart = split * perSplit, kEnd = Min(kStart + perSplit, s.K), columns = s.N - n0;
            if (inTurn && m0 == 0 && s.StrideBn == 1 && n0 + width < s.N)
                for (int k = kStart; k < kEnd; k++) CachePrefetch.Share(b, k * s.StrideBk + n0 + width, Min(width, s.N - n0 - width), 0, 1);
            if (columns >= width && s.StrideBn == 1)
                LaneTile(s, a, b, acc, m0, n0, kStart, kEnd, width, lanes);
            else
            {
                LaneTile(s, a, b, acc, m0, n0, kStart, kEnd, lanes, lanes);
                if (columns > lanes) LaneTile(s, a, b, right, m0, n0 + lanes, kStart, kEnd, lanes, lanes);
            }
            StoreRows(s, bias, mask, splits == 1 ? flags : 0, c, acc, m0, n0, splits == 1 ? 0 : split * s.M * s.N, width, lanes);
            if (splits == 1) PrefetchTileAhead(s, mask, flags, c, m0, n0 + TilesAhead * width, width);
        }
    }
}
