using ILGPU;
using ILGPU.Runtime;

namespace Vae.Gpu.Kernels;

/// <summary>
/// The matrix products of the linear layers, in two versions behind one shape (<see cref="GemmShape"/>):
/// version 1 keeps a 4x4 tile of C in registers per thread (good on the CPU accelerator and a fair GPU
/// baseline); version 2 stages 16x16 tiles of A and B in shared memory (the GPU version). Both can split
/// K into slices whose partial products are summed in a fixed order, so a skinny product such as
/// (128 x 16 x 18432) still fills a GPU, deterministically.
/// </summary>
public static class GemmKernels
{
    public const int Tile = 4;
    public const int SharedTile = 16;

    public static int RegisterTiledThreads(GemmShape s, int splits) =>
        ConvKernels.DivUp(s.M, Tile) * ConvKernels.DivUp(s.N, Tile) * splits;

    /// <summary>
    /// Version 1. Thread (split, mTile, nTile) sums k over its slice of K for a 4x4 tile of C. With one split
    /// it finishes C in place with the epilogue; with several it writes partials[split, m, n] raw.
    /// </summary>
    public static void RegisterTiled(
        Index1D index, int stride, GemmShape s, ArrayView<float> a, ArrayView<float> b, int splits,
        ArrayView<float> bias, ArrayView<float> mask, int flags, ArrayView<float> c)
    {
        for (int tile = index; tile < RegisterTiledThreads(s, splits); tile += stride)
            RegisterTile(tile, s, a, b, splits, bias, mask, flags, c);
    }

    static void RegisterTile(
        int tile, GemmShape s, ArrayView<float> a, ArrayView<float> b, int splits,
        ArrayView<float> bias, ArrayView<float> mask, int flags, ArrayView<float> c)
    {
        int nTiles = ConvKernels.DivUp(s.N, Tile), mTiles = ConvKernels.DivUp(s.M, Tile);
        int t = tile;
        int n0 = (t % nTiles) * Tile; t /= nTiles;
        int m0 = (t % mTiles) * Tile;
        int split = t / mTiles;
        int perSplit = ConvKernels.DivUp(s.K, splits);
        int kStart = split * perSplit, kEnd = ConvKernels.Min(kStart + perSplit, s.K);

        int ma = m0 * s.StrideAm, mb = ConvKernels.Min(m0 + 1, s.M - 1) * s.StrideAm;
        int mc = ConvKernels.Min(m0 + 2, s.M - 1) * s.StrideAm, md = ConvKernels.Min(m0 + 3, s.M - 1) * s.StrideAm;
        int na = n0 * s.StrideBn, nb = ConvKernels.Min(n0 + 1, s.N - 1) * s.StrideBn;
        int nc = ConvKernels.Min(n0 + 2, s.N - 1) * s.StrideBn, nd = ConvKernels.Min(n0 + 3, s.N - 1) * s.StrideBn;

        float a00 = 0, a01 = 0, a02 = 0, a03 = 0, a10 = 0, a11 = 0, a12 = 0, a13 = 0;
        float a20 = 0, a21 = 0, a22 = 0, a23 = 0, a30 = 0, a31 = 0, a32 = 0, a33 = 0;
        for (int k = kStart; k < kEnd; k++)
        {
            int ak = k * s.StrideAk, bk = k * s.StrideBk;
            float p0 = a[ma + ak], p1 = a[mb + ak], p2 = a[mc + ak], p3 = a[md + ak];
            float q0 = b[bk + na], q1 = b[bk + nb], q2 = b[bk + nc], q3 = b[bk + nd];
            a00 += p0 * q0; a01 += p0 * q1; a02 += p0 * q2; a03 += p0 * q3;
            a10 += p1 * q0; a11 += p1 * q1; a12 += p1 * q2; a13 += p1 * q3;
            a20 += p2 * q0; a21 += p2 * q1; a22 += p2 * q2; a23 += p2 * q3;
            a30 += p3 * q0; a31 += p3 * q1; a32 += p3 * q2; a33 += p3 * q3;
        }

        int offset = splits == 1 ? 0 : split * s.M * s.N;
        int storeFlags = splits == 1 ? flags : 0;
        StoreRow(s, c, offset, m0, n0, a00, a01, a02, a03, bias, mask, storeFlags);
        StoreRow(s, c, offset, m0 + 1, n0, a10, a11, a12, a13, bias, mask, storeFlags);
        StoreRow(s, c, offset, m0 + 2, n0, a20, a21, a22, a23, bias, mask, storeFlags);
        StoreRow(s, c, offset, m0 + 3, n0, a30, a31, a32, a33, bias, mask, storeFlags);
    }

    static void StoreRow(
        GemmShape s, ArrayView<float> c, int offset, int m, int n0, float c0, float c1, float c2, float c3,
        ArrayView<float> bias, ArrayView<float> mask, int flags)
    {
        if (m >= s.M) return;
        int at = offset + m * s.N + n0;
        Epilogue.Store(c, at, c0, n0, bias, mask, flags);
        if (n0 + 1 < s.N) Epilogue.Store(c, at + 1, c1, n0 + 1, bias, mask, flags);
        if (n0 + 2 < s.N) Epilogue.Store(c, at + 2, c2, n0 + 2, bias, mask, flags);
        if (n0 + 3 < s.N) Epilogue.Store(c, at + 3, c3, n0 + 3, bias, mask, flags);
    }

    /// <summary>Launch shape of <see cref="SharedTiled"/>: one 16x16 group per tile of C per split.</summary>
    public static KernelConfig SharedTiledConfig(in GemmShape s, int splits) =>
        new(new Index3D(ConvKernels.DivUp(s.N, SharedTile), ConvKernels.DivUp(s.M, SharedTile), splits),
            new Index3D(SharedTile, SharedTile, 1));

    /// <summary>
    /// Version 2. A 16x16 group loads a 16x16 tile of A and of B into shared memory per step of K (the
    /// loop runs over K, not M, unlike ILGPU's sample), then each thread sums its element of C from them.
    /// Same split and epilogue rules as version 1.
    /// </summary>
    [ExplicitlyGrouped]
    public static void SharedTiled(
        GemmShape s, ArrayView<float> a, ArrayView<float> b, int splits,
        ArrayView<float> bias, ArrayView<float> mask, int flags, ArrayView<float> c)
    {
        // DenseX makes the first index the contiguous one: [a, b] is word a + 17 b. tx varies fastest in a warp
        // and comes second in every access below, so a padded row of 17 words puts the 16 threads of a
        // half-warp in 16 different banks (a row of 16 would put them all in one).
        var tileA = SharedMemory.Allocate2D<float, Stride2D.DenseX>(new Index2D(SharedTile + 1, SharedTile), new Stride2D.DenseX(SharedTile + 1));
        var tileB = SharedMemory.Allocate2D<float, Stride2D.DenseX>(new Index2D(SharedTile + 1, SharedTile), new Stride2D.DenseX(SharedTile + 1));
        int tx = Group.IdxX, ty = Group.IdxY;
        int n = Grid.IdxX * SharedTile + tx, m = Grid.IdxY * SharedTile + ty;
        int split = Grid.IdxZ;
        int perSplit = ConvKernels.DivUp(s.K, splits);
        int kStart = split * perSplit, kEnd = ConvKernels.Min(kStart + perSplit, s.K);

        float sum = 0;
        for (int k0 = kStart; k0 < kEnd; k0 += SharedTile)
        {
            // tileA[row, col] = A[m of row, k0 + col]; tileB[row, col] = B[k0 + row, n of col]. In the product
            // tileA[ty, j] is one word per half-warp (a broadcast) and tileB[j, tx] 16 words 17 apart.
            int ka = k0 + tx, kb = k0 + ty;
            tileA[ty, tx] = m < s.M && ka < kEnd ? a[m * s.StrideAm + ka * s.StrideAk] : 0f;
            tileB[ty, tx] = n < s.N && kb < kEnd ? b[kb * s.StrideBk + n * s.StrideBn] : 0f;
            Group.Barrier();
            for (int j = 0; j < SharedTile; j++) sum += tileA[ty, j] * tileB[j, tx];
            Group.Barrier();
        }

        if (m < s.M && n < s.N)
        {
            int offset = splits == 1 ? 0 : split * s.M * s.N;
            Epilogue.Store(c, offset + m * s.N + n, sum, n, bias, mask, splits == 1 ? flags : 0);
        }
    }

    /// <summary>Rows of C per work-item of <see cref="Rows"/>; it covers <see cref="ConvKernels.RowLanes"/> columns.</summary>
    public const int RowsM = 8;

    public static int RowsThreads(GemmShape s, int splits) =>
        ConvKernels.DivUp(s.M, RowsM) * ConvKernels.DivUp(s.N, ConvKernels.RowLanes) * splits;

    /// <summary>
    /// Version 3, for CPUs behind OpenCL (like conv v4): a work-item keeps 8 rows x 32 columns of C in a
    /// private array and its innermost loop runs over the 32 columns (SIMD; LLVM checks at run time
    /// whether B's column stride is 1 and uses plain vector loads then). Same split and epilogue rules as v1.
    /// </summary>
    public static void Rows(
        Index1D index, int stride, GemmShape s, ArrayView<float> a, ArrayView<float> b, int splits,
        ArrayView<float> bias, ArrayView<float> mask, int flags, ArrayView<float> c)
    {
        const int lanes = ConvKernels.RowLanes;
        var acc = LocalMemory.Allocate<float>(RowsM * lanes);
        int nTiles = ConvKernels.DivUp(s.N, lanes), mTiles = ConvKernels.DivUp(s.M, RowsM);
        int perSplit = ConvKernels.DivUp(s.K, splits);
        for (int item = index; item < RowsThreads(s, splits); item += stride)
        {
            int t = item;
            int n0 = (t % nTiles) * lanes; t /= nTiles;
            int m0 = (t % mTiles) * RowsM;
            int split = t / mTiles;
            int kStart = split * perSplit, kEnd = ConvKernels.Min(kStart + perSplit, s.K);
            // Rows past M are read clamped and never stored.
            int r0 = m0 * s.StrideAm, r1 = ConvKernels.Min(m0 + 1, s.M - 1) * s.StrideAm;
            int r2 = ConvKernels.Min(m0 + 2, s.M - 1) * s.StrideAm, r3 = ConvKernels.Min(m0 + 3, s.M - 1) * s.StrideAm;
            int r4 = ConvKernels.Min(m0 + 4, s.M - 1) * s.StrideAm, r5 = ConvKernels.Min(m0 + 5, s.M - 1) * s.StrideAm;
            int r6 = ConvKernels.Min(m0 + 6, s.M - 1) * s.StrideAm, r7 = ConvKernels.Min(m0 + 7, s.M - 1) * s.StrideAm;
            for (int j = 0; j < RowsM * lanes; j++) acc[j] = 0f;
            for (int k = kStart; k < kEnd; k++)
            {
                int ak = k * s.StrideAk, bk = k * s.StrideBk;
                float p0 = a[r0 + ak], p1 = a[r1 + ak], p2 = a[r2 + ak], p3 = a[r3 + ak];
                float p4 = a[r4 + ak], p5 = a[r5 + ak], p6 = a[r6 + ak], p7 = a[r7 + ak];
                for (int x = 0; x < lanes; x++)
                {
                    int n = n0 + x;
                    float q = n < s.N ? b[bk + n * s.StrideBn] : 0f;
                    acc[x] += p0 * q; acc[lanes + x] += p1 * q; acc[2 * lanes + x] += p2 * q; acc[3 * lanes + x] += p3 * q;
                    acc[4 * lanes + x] += p4 * q; acc[5 * lanes + x] += p5 * q; acc[6 * lanes + x] += p6 * q; acc[7 * lanes + x] += p7 * q;
                }
            }
            int offset = splits == 1 ? 0 : split * s.M * s.N;
            int storeFlags = splits == 1 ? flags : 0;
            for (int r = 0; r < RowsM; r++)
            {
                int m = m0 + r;
                if (m >= s.M) break;
                Epilogue.StoreRow(c, offset + m * s.N + n0, acc, r * lanes, ConvKernels.Min(lanes, s.N - n0), n0, 1, bias, mask, storeFlags);
            }
        }
    }
}
