using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;
using static Vae.Gpu.Kernels.KernelIndex;

namespace Vae.Gpu.Kernels;

public static partial class GemmKernels
{
    /// <summary>Version 5's tile: <see cref="DotRows"/> x <see cref="DotColumns"/> outputs per work-item, each a
    /// sum over K kept as <see cref="Lanes"/> partial sums.</summary>
    public const int DotRows = 4, DotColumns = 2;

    public static int LaneDotThreads(GemmShape s, int splits) => DivUp(s.M, DotRows) * DivUp(s.N, DotColumns) * splits;

    /// <summary>K per slice of version 5: a whole number of <see cref="Lanes"/>-wide chunks.</summary>
    public static int LaneDotSlice(GemmShape s, int splits) => DivUp(DivUp(s.K, splits), Lanes) * Lanes;

    /// <summary>
    /// Version 5, for SIMD CPUs behind OpenCL where A's and B's K are both contiguous (a layer's forward
    /// product with its weight, (M, K) x (N, K)^T, whose B columns are strided): SIMD over K. Each of the
    /// 4 x 2 outputs keeps 8 lane sums in a vector register across its slice of K (the loop over the 8 lanes
    /// has no condition, so the vectorizer removes it), then adds its lanes in a fixed order.
    /// </summary>
    public static void LaneDot(Index1D index, int stride, GemmArgs args)
    {
        GemmShape s = args.Shape;
        int splits = args.Splits, flags = args.Flags;
        ArrayView<float> a = args.A, b = args.B, bias = args.Bias, mask = args.Mask, c = args.C;
        var acc = LocalMemory.Allocate<float>(DotRows * DotColumns * Lanes);
        var row = LocalMemory.Allocate<float>(DotColumns);
        int nTiles = DivUp(s.N, DotColumns), mTiles = DivUp(s.M, DotRows);
        int perSplit = LaneDotSlice(s, splits);
        for (int item = index; item < LaneDotThreads(s, splits); item += stride)
        {
            int t = item;
            int m0 = (t % mTiles) * DotRows; t /= mTiles;
            int n0 = (t % nTiles) * DotColumns;
            int split = t / nTiles;
            int kStart = Min(split * perSplit, s.K), kEnd = Min(kStart + perSplit, s.K);
            // Rows and columns past M and N are read clamped and never stored.
            int a0 = m0 * s.StrideAm, a1 = Min(m0 + 1, s.M - 1) * s.StrideAm;
            int a2 = Min(m0 + 2, s.M - 1) * s.StrideAm, a3 = Min(m0 + 3, s.M - 1) * s.StrideAm;
            int b0 = n0 * s.StrideBn, b1 = Min(n0 + 1, s.N - 1) * s.StrideBn;
            for (int j = 0; j < DotRows * DotColumns * Lanes; j++) acc[j] = 0f;
            int kVector = kStart + (kEnd - kStart) / Lanes * Lanes;
            for (int k = kStart; k < kVector; k += Lanes)
                for (int x = 0; x < Lanes; x++)
                    DotLane(acc, x, a[a0 + k + x], a[a1 + k + x], a[a2 + k + x], a[a3 + k + x], b[b0 + k + x], b[b1 + k + x]);
            for (int k = kVector; k < kEnd; k++)
                DotLane(acc, 0, a[a0 + k], a[a1 + k], a[a2 + k], a[a3 + k], b[b0 + k], b[b1 + k]);
            int offset = splits == 1 ? 0 : split * s.M * s.N;
            int storeFlags = splits == 1 ? flags : 0;
            for (int r = 0; r < DotRows; r++)
            {
                int m = m0 + r;
                if (m >= s.M) break;
                for (int j = 0; j < DotColumns; j++) row[j] = LaneTiles.Sum(acc, (r * DotColumns + j) * Lanes);
                Epilogue.StoreRow(c, offset + m * s.N + n0, row, 0, Min(DotColumns, s.N - n0), n0, 1, bias, mask, storeFlags);
            }
        }
    }

    /// <summary>Lane x of the 4 x 2 outputs: acc[(r, j), x] += A[r] * B[j].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void DotLane(ArrayView<float> acc, int x, float p0, float p1, float p2, float p3, float q0, float q1) =>
        LaneTiles.MulAdd8(acc, x, p0, p0, p1, p1, p2, p2, p3, p3, q0, q1, q0, q1, q0, q1, q0, q1);
}
