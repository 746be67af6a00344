using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;
using static Vae.Gpu.Kernels.KernelIndex;

namespace Vae.Gpu.Kernels;

public static partial class GemmKernels
{
    /// <summary>Version 4's tile: <see cref="LaneRows"/> rows x <see cref="Lanes"/> columns of C per work-item.</summary>
    public const int LaneRows = 8, Lanes = LaneTiles.Width;

    /// <summary>The most K whose strided B tile version 4 packs into a private array (K x 8 floats).</summary>
    public const int PackedMaxK = 64;

    /// <summary>Column tiles of C in one block of version 4's unpacked path (512 columns).</summary>
    public const int LaneBlockTiles = 64;

    /// <summary>Whether version 4 packs B: its columns are strided and K is short (a linear layer's forward with
    /// its (N, K) weight, K the latent size). Each work-item then owns 8 columns for every row of C.</summary>
    public static bool LaneTiledPacks(GemmShape s) => s.StrideBn != 1 && s.K <= PackedMaxK;

    public static int LaneTiledThreads(GemmShape s, int splits) =>
        (LaneTiledPacks(s) ? 1 : DivUp(s.M, LaneRows)) * DivUp(s.N, Lanes) * splits;

    /// <summary>
    /// Version 4, for SIMD CPUs behind OpenCL: like version 3, but the innermost loop runs exactly
    /// <see cref="Lanes"/> times, one 8-wide vector, so the vectorizer removes it and the 8 x 8 accumulators
    /// stay in vector registers across the whole K loop instead of being loaded and stored at every k.
    /// Full tiles run a loop without bounds checks; the last tile of a ragged N reads its missing columns as 0.
    /// </summary>
    public static void LaneTiled(Index1D index, int stride, GemmArgs args)
    {
        GemmShape s = args.Shape;
        int splits = args.Splits, flags = args.Flags;
        ArrayView<float> a = args.A, b = args.B, bias = args.Bias, mask = args.Mask, c = args.C;
        var acc = LocalMemory.Allocate<float>(LaneRows * Lanes);
        int nTiles = DivUp(s.N, Lanes), mTiles = DivUp(s.M, LaneRows);
        int perSplit = DivUp(s.K, splits);
        if (LaneTiledPacks(s))
        {
            var packed = LocalMemory.Allocate<float>(PackedMaxK * Lanes);
            for (int item = index; item < LaneTiledThreads(s, splits); item += stride)
                PackedColumns(s, a, b, splits, bias, mask, flags, c, acc, packed, item, nTiles, mTiles, perSplit, Lanes, Lanes);
            return;
        }
        for (int item = index; item < LaneTiledThreads(s, splits); item += stride)
        {
            int split = item / (mTiles * nTiles), t = item % (mTiles * nTiles);
            // Blocks of column tiles: within a block the column tiles vary fastest, so consecutive work-items
            // write along the same 8 rows of C (a few long streams, not one short run in each of M rows), and
            // the block's columns of B stay in cache while every row tile passes over them.
            int block = t / (LaneBlockTiles * mTiles), first = block * LaneBlockTiles;
            int width = Min(LaneBlockTiles, nTiles - first), within = t - first * mTiles;
            int m0 = (within / width) * LaneRows;
            int n0 = (first + within % width) * Lanes;
            int kStart = split * perSplit, kEnd = Min(kStart + perSplit, s.K);
            LaneTile(s, a, b, acc, m0, n0, kStart, kEnd, Lanes, Lanes);
            StoreRows(s, bias, mask, splits == 1 ? flags : 0, c, acc, m0, n0, splits == 1 ? 0 : split * s.M * s.N, Lanes, Lanes);
            if (splits == 1) PrefetchTileAhead(s, mask, flags, c, m0, n0 + TilesAhead * Lanes, Lanes);
        }
    }

    /// <summary>
    /// Work-item <paramref name="item"/> of the packed path of versions 4, 6 and 7: B's <paramref name="width"/>
    /// (one or two vectors of <paramref name="lanes"/>, constants at each call) strided columns n0.. of its K
    /// slice copied once into packed[k, x] (missing columns 0), then every 8-row tile of C from it with
    /// contiguous vector loads, the accumulators in registers as in <see cref="LaneTile"/>.
    /// </summary>
    static void PackedColumns(GemmShape s, ArrayView<float> a, ArrayView<float> b, int splits,
        ArrayView<float> bias, ArrayView<float> mask, int flags, ArrayView<float> c,
        ArrayView<float> acc, ArrayView<float> packed, int item, int nTiles, int mTiles, int perSplit, int width, int lanes)
    {
        int half = LaneRows * lanes;
        int n0 = (item % nTiles) * width;
        int split = item / nTiles;
        int kStart = split * perSplit, kEnd = Min(kStart + perSplit, s.K), columns = s.N - n0;
        for (int k = kStart; k < kEnd; k++)
            for (int x = 0; x < width; x++)
                packed[(k - kStart) * width + x] = x < columns ? b[k * s.StrideBk + (n0 + x) * s.StrideBn] : 0f;
        int offset = splits == 1 ? 0 : split * s.M * s.N;
        int storeFlags = splits == 1 ? flags : 0;
        for (int mt = 0; mt < mTiles; mt++)
        {
            int m0 = mt * LaneRows;
            int r0 = m0 * s.StrideAm, r1 = Min(m0 + 1, s.M - 1) * s.StrideAm;
            int r2 = Min(m0 + 2, s.M - 1) * s.StrideAm, r3 = Min(m0 + 3, s.M - 1) * s.StrideAm;
            int r4 = Min(m0 + 4, s.M - 1) * s.StrideAm, r5 = Min(m0 + 5, s.M - 1) * s.StrideAm;
            int r6 = Min(m0 + 6, s.M - 1) * s.StrideAm, r7 = Min(m0 + 7, s.M - 1) * s.StrideAm;
            for (int j = 0; j < LaneRows * width; j++) acc[j] = 0f;
            for (int k = kStart; k < kEnd; k++)
            {
                int ak = k * s.StrideAk;
                float p0 = a[r0 + ak], p1 = a[r1 + ak], p2 = a[r2 + ak], p3 = a[r3 + ak];
                float p4 = a[r4 + ak], p5 = a[r5 + ak], p6 = a[r6 + ak], p7 = a[r7 + ak];
                var row = packed.SubView((k - kStart) * width, width);
                for (int x = 0; x < lanes; x++)
                {
                    LaneTiles.AccumulateColumn(acc, x, lanes, row[x], p0, p1, p2, p3, p4, p5, p6, p7);
                    if (width == 2 * lanes) LaneTiles.AccumulateColumn(acc, half + x, lanes, row[lanes + x], p0, p1, p2, p3, p4, p5, p6, p7);
                }
            }
            StoreRows(s, bias, mask, storeFlags, c, acc, m0, n0, offset, width, lanes);
            if (splits == 1) PrefetchTileAhead(s, mask, flags, c, m0, n0 + TilesAhead * width, width);
        }
    }

    /// <summary>Column tiles ahead of the current one whose lines of C (and of the mask) versions 4, 6 and 7 ask for.</summary>
    const int TilesAhead = 4;

    /// <summary>The 8 rows of C (to write) and of the ReLU mask at columns n0 .. n0 + width of a tile a few ahead
    /// along the same rows, which the same core computes next.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void PrefetchTileAhead(GemmShape s, ArrayView<float> mask, int flags, ArrayView<float> c, int m0, int n0, int width)
    {
        if (n0 >= s.N) return;
        int rows = Min(LaneRows, s.M - m0), span = Min(width, s.N - n0);
        bool masked = (flags & (int)EpilogueFlags.MaskPositive) != 0;
        for (int r = 0; r < rows; r++)
        {
            CachePrefetch.Share(c, (m0 + r) * s.N + n0, span, 0, 1, true);
            if (masked) CachePrefetch.Share(mask, (m0 + r) * s.N + n0, span, 0, 1);
        }
    }

    /// <summary>A tile's rows of C (one or two vectors of <paramref name="lanes"/> wide, constants at each call):
    /// the first <paramref name="lanes"/> columns from acc[0 .. 8 lanes), the next from the 8 rows after them,
    /// each through the lane epilogue (a ragged width through the general one).</summary>
    static void StoreRows(GemmShape s, ArrayView<float> bias, ArrayView<float> mask, int flags, ArrayView<float> c,
        ArrayView<float> acc, int m0, int n0, int offset, int width, int lanes)
    {
        int half = LaneRows * lanes;
        int columns = s.N - n0;
        for (int r = 0; r < LaneRows; r++)
        {
            int m = m0 + r;
            if (m >= s.M) break;
            LaneTiles.Store(c, offset + m * s.N + n0, acc, r * lanes, columns, n0, 1, bias, mask, flags, lanes);
            if (width == 2 * lanes && columns > lanes)
                LaneTiles.Store(c, offset + m * s.N + n0 + lanes, acc, half + r * lanes, columns - lanes, n0 + lanes, 1, bias, mask, flags, lanes);
        }
    }

    /// <summary>
    /// Rows m0 .. m0 + 7 x <paramref name="width"/> columns n0 .. of C over k in [kStart, kEnd) into acc: one
    /// vector of <paramref name="lanes"/> columns, or (versions 6's and 7's full tiles; constants at each call)
    /// two, the second after the first's 8 rows. A two-vector call needs a full tile of contiguous columns; the
    /// caller checks.
    /// </summary>
    static void LaneTile(GemmShape s, ArrayView<float> a, ArrayView<float> b, ArrayView<float> acc,
        int m0, int n0, int kStart, int kEnd, int width, int lanes)
    {
        int half = LaneRows * lanes;
        // Rows past M are read clamped and never stored.
        int r0 = m0 * s.StrideAm, r1 = Min(m0 + 1, s.M - 1) * s.StrideAm;
        int r2 = Min(m0 + 2, s.M - 1) * s.StrideAm, r3 = Min(m0 + 3, s.M - 1) * s.StrideAm;
        int r4 = Min(m0 + 4, s.M - 1) * s.StrideAm, r5 = Min(m0 + 5, s.M - 1) * s.StrideAm;
        int r6 = Min(m0 + 6, s.M - 1) * s.StrideAm, r7 = Min(m0 + 7, s.M - 1) * s.StrideAm;
        int columns = s.N - n0;
        for (int j = 0; j < LaneRows * width; j++) acc[j] = 0f;
        // Full tiles of contiguous columns: the loop over the 8 columns has no condition, so it becomes one
        // vector load (two for 16 columns) and 8 FMAs per vector, and the accumulators stay in registers.
        if (columns >= width && s.StrideBn == 1)
        {
            for (int k = kStart; k < kEnd; k++)
            {
                int ak = k * s.StrideAk;
                float p0 = a[r0 + ak], p1 = a[r1 + ak], p2 = a[r2 + ak], p3 = a[r3 + ak];
                float p4 = a[r4 + ak], p5 = a[r5 + ak], p6 = a[r6 + ak], p7 = a[r7 + ak];
                // A view indexed by the lane alone: no check that a 32-bit index does not wrap, whose scalar
                // fallback would keep the accumulators in memory.
                var row = b.SubView(k * s.StrideBk + n0, width);
                for (int x = 0; x < lanes; x++)
                {
                    LaneTiles.AccumulateColumn(acc, x, lanes, row[x], p0, p1, p2, p3, p4, p5, p6, p7);
                    if (width == 2 * lanes) LaneTiles.AccumulateColumn(acc, half + x, lanes, row[lanes + x], p0, p1, p2, p3, p4, p5, p6, p7);
                }
            }
            return;
        }
        // B's columns strided (version 5 serves a contiguous K), or the last tile of a ragged N: missing
        // columns read as 0.
        for (int k = kStart; k < kEnd; k++)
        {
            int ak = k * s.StrideAk, bk = k * s.StrideBk + n0 * s.StrideBn;
            float p0 = a[r0 + ak], p1 = a[r1 + ak], p2 = a[r2 + ak], p3 = a[r3 + ak];
            float p4 = a[r4 + ak], p5 = a[r5 + ak], p6 = a[r6 + ak], p7 = a[r7 + ak];
            for (int x = 0; x < lanes; x++)
                LaneTiles.AccumulateColumn(acc, x, lanes, x < columns ? b[bk + x * s.StrideBn] : 0f, p0, p1, p2, p3, p4, p5, p6, p7);
        }
    }
}
