using ILGPU;
using ILGPU.Runtime;
using static Vae.Gpu.Kernels.KernelIndex;

namespace Vae.Gpu.Kernels;

/// <summary>
/// The matrix products of the linear layers behind one shape (<see cref="GemmShape"/>): version 1 keeps a 4x4
/// tile of C in registers per thread, version 2 stages 16x16 tiles of A and B in shared memory (GPUs), version 3
/// keeps rows of C with SIMD over columns (CPUs behind OpenCL). Each can split K into slices whose partial
/// products are summed in a fixed order, so a skinny product such as (128 x 16 x 18432) still fills a GPU,
/// deterministically.
/// </summary>
public static partial class GemmKernels
{
    public const int Tile = 4;

    public static int RegisterTiledThreads(GemmShape s, int splits) =>
        DivUp(s.M, Tile) * DivUp(s.N, Tile) * splits;

    /// <summary>
    /// Version 1. Thread (split, mTile, nTile) sums k over its slice of K for a 4x4 tile of C. With one split
    /// it finishes C in place with the epilogue; with several it writes partials[split, m, n] raw.
    /// </summary>
    public static void RegisterTiled(Index1D index, int stride, GemmArgs args)
    {
        GemmShape s = args.Shape;
        int splits = args.Splits, flags = args.Flags;
        ArrayView<float> a = args.A, b = args.B, bias = args.Bias, mask = args.Mask, c = args.C;
        for (int tile = index; tile < RegisterTiledThreads(s, splits); tile += stride)
            RegisterTile(tile, s, a, b, splits, bias, mask, flags, c);
    }

    static void RegisterTile(
        int tile, GemmShape s, ArrayView<float> a, ArrayView<float> b, int splits,
        ArrayView<float> bias, ArrayView<float> mask, int flags, ArrayView<float> c)
    {
        int nTiles = DivUp(s.N, Tile), mTiles = DivUp(s.M, Tile);
        int t = tile;
        int n0 = (t % nTiles) * Tile; t /= nTiles;
        int m0 = (t % mTiles) * Tile;
        int split = t / mTiles;
        int perSplit = DivUp(s.K, splits);
        int kStart = split * perSplit, kEnd = Min(kStart + perSplit, s.K);

        int ma = m0 * s.StrideAm, mb = Min(m0 + 1, s.M - 1) * s.StrideAm;
        int mc = Min(m0 + 2, s.M - 1) * s.StrideAm, md = Min(m0 + 3, s.M - 1) * s.StrideAm;
        int na = n0 * s.StrideBn, nb = Min(n0 + 1, s.N - 1) * s.StrideBn;
        int nc = Min(n0 + 2, s.N - 1) * s.StrideBn, nd = Min(n0 + 3, s.N - 1) * s.StrideBn;

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

}
