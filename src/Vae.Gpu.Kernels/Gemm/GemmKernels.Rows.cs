using ILGPU;
using ILGPU.Runtime;
using static Vae.Gpu.Kernels.KernelIndex;

namespace Vae.Gpu.Kernels;

public static partial class GemmKernels
{
    /// <summary>Rows of C per work-item of <see cref="Rows"/>; it covers <see cref="ConvKernels.RowLanes"/> columns.</summary>
    public const int RowsM = 8;

    public static int RowsThreads(GemmShape s, int splits) =>
        DivUp(s.M, RowsM) * DivUp(s.N, ConvKernels.RowLanes) * splits;

    /// <summary>
    /// Version 3, for CPUs behind OpenCL (like conv v4): a work-item keeps 8 rows x 32 columns of C in a
    /// private array and its innermost loop runs over the 32 columns (SIMD; LLVM checks at run time
    /// whether B's column stride is 1 and uses plain vector loads then). Same split and epilogue rules as v1.
    /// </summary>
    public static void Rows(Index1D index, int stride, GemmArgs args)
    {
        GemmShape s = args.Shape;
        int splits = args.Splits, flags = args.Flags;
        ArrayView<float> a = args.A, b = args.B, bias = args.Bias, mask = args.Mask, c = args.C;
        const int lanes = ConvKernels.RowLanes;
        var acc = LocalMemory.Allocate<float>(RowsM * lanes);
        int nTiles = DivUp(s.N, lanes), mTiles = DivUp(s.M, RowsM);
        int perSplit = DivUp(s.K, splits);
        for (int item = index; item < RowsThreads(s, splits); item += stride)
        {
            int t = item;
            int n0 = (t % nTiles) * lanes; t /= nTiles;
            int m0 = (t % mTiles) * RowsM;
            int split = t / mTiles;
            int kStart = split * perSplit, kEnd = Min(kStart + perSplit, s.K);
            // Rows past M are read clamped and never stored.
            int r0 = m0 * s.StrideAm, r1 = Min(m0 + 1, s.M - 1) * s.StrideAm;
            int r2 = Min(m0 + 2, s.M - 1) * s.StrideAm, r3 = Min(m0 + 3, s.M - 1) * s.StrideAm;
            int r4 = Min(m0 + 4, s.M - 1) * s.StrideAm, r5 = Min(m0 + 5, s.M - 1) * s.StrideAm;
            int r6 = Min(m0 + 6, s.M - 1) * s.StrideAm, r7 = Min(m0 + 7, s.M - 1) * s.StrideAm;
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
                Epilogue.StoreRow(c, offset + m * s.N + n0, acc, r * lanes, Min(lanes, s.N - n0), n0, 1, bias, mask, storeFlags);
            }
        }
    }
}
