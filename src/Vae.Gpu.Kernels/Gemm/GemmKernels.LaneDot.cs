using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;
using static Vae.Gpu.Kernels.KernelIndex;

namespace Vae.Gpu.Kernels;

public static partial class GemmKernels
{
    /// <summary>Version 5's tile: <see cref="DotRows"/> x <see cref="DotColumns"/> outputs per work-item, each a
    /// sum over K kept as <see cref="Lanes"/> partial sums; version 8's: <see cref="DotRows"/> x
    /// <see cref="WideDotColumns"/>, each as <see cref="LaneTiles.WideWidth"/> partial sums.</summary>
    public const int DotRows = 4, DotColumns = 2, WideDotColumns = 4;

    public static int LaneDotThreads(GemmShape s, int splits) => DotThreads(s, splits, DotColumns);

    public static int WideDotThreads(GemmShape s, int splits) => DotThreads(s, splits, WideDotColumns);

    static int DotThreads(GemmShape s, int splits, int columns) => DivUp(s.M, DotRows) * DivUp(s.N, columns) * splits;

    /// <summary>K per slice of versions 5 and 8: a whole number of <paramref name="lanes"/>-wide chunks.</summary>
    static int DotSlice(GemmShape s, int splits, int lanes) => DivUp(DivUp(s.K, splits), lanes) * lanes;

    /// <summary>
    /// Version 5, for SIMD CPUs behind OpenCL where A's and B's K are both contiguous (a layer's forward
    /// product with its weight, (M, K) x (N, K)^T, whose B columns are strided): SIMD over K. Each of the
    /// 4 x 2 outputs keeps 8 lane sums in a vector register across its slice of K (the loop over the 8 lanes
    /// has no condition, so the vectorizer removes it), then adds its lanes in a fixed order.
    /// </summary>
    public static void LaneDot(Index1D index, int stride, GemmArgs args) =>
        Dot(index, stride, args, LocalMemory.Allocate<float>(DotRows * DotColumns * Lanes), LocalMemory.Allocate<float>(DotColumns),
            DotColumns, Lanes);

    /// <summary>
    /// Version 8: version 5 at 16 lanes with 4 x 4 outputs, for CPUs that run 512-bit vectors at full width where
    /// PoCL emits them (<c>PoclWideVectors</c>): per 16 values of K it loads 4 rows of A and 4 of B for 16 FMAs
    /// of 16 lanes, where version 5 loads 6 vectors of 8 lanes for 8 FMAs of 8, so its loads, not its FMAs, set
    /// the pace. 16 accumulators and 8 operands fill 24 of the 32 vector registers. Each output's 16 lanes are
    /// added as two fixed-order halves of 8, then the halves.
    /// </summary>
    public static void WideDot(Index1D index, int stride, GemmArgs args) =>
        Dot(index, stride, args, LocalMemory.Allocate<float>(DotRows * WideDotColumns * LaneTiles.WideWidth),
            LocalMemory.Allocate<float>(WideDotColumns), WideDotColumns, LaneTiles.WideWidth);

    /// <summary>Versions 5 and 8: <see cref="DotRows"/> x <paramref name="columns"/> (2 or 4) outputs per work-item,
    /// <paramref name="lanes"/> partial sums each (constants where they are inlined).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Dot(int index, int stride, GemmArgs args, ArrayView<float> acc, ArrayView<float> row, int columns, int lanes)
    {
        GemmShape s = args.Shape;
        int splits = args.Splits, flags = args.Flags;
        ArrayView<float> a = args.A, b = args.B, bias = args.Bias, mask = args.Mask, c = args.C;
        int nTiles = DivUp(s.N, columns), mTiles = DivUp(s.M, DotRows);
        int perSplit = DotSlice(s, splits, lanes);
        for (int item = index; item < DotThreads(s, splits, columns); item += stride)
        {
            int t = item;
            int m0 = (t % mTiles) * DotRows; t /= mTiles;
            int n0 = (t % nTiles) * columns;
            int split = t / nTiles;
            int kStart = Min(split * perSplit, s.K), kEnd = Min(kStart + perSplit, s.K);
            // Rows and columns past M and N are read clamped and never stored.
            int a0 = m0 * s.StrideAm, a1 = Min(m0 + 1, s.M - 1) * s.StrideAm;
            int a2 = Min(m0 + 2, s.M - 1) * s.StrideAm, a3 = Min(m0 + 3, s.M - 1) * s.StrideAm;
            int b0 = n0 * s.StrideBn, b1 = Min(n0 + 1, s.N - 1) * s.StrideBn;
            int b2 = Min(n0 + 2, s.N - 1) * s.StrideBn, b3 = Min(n0 + 3, s.N - 1) * s.StrideBn;
            for (int j = 0; j < DotRows * columns * lanes; j++) acc[j] = 0f;
            int kVector = kStart + (kEnd - kStart) / lanes * lanes;
            for (int k = kStart; k < kVector; k += lanes)
                for (int x = 0; x < lanes; x++)
                    DotLane(acc, x, lanes, columns, a[a0 + k + x], a[a1 + k + x], a[a2 + k + x], a[a3 + k + x],
                        b[b0 + k + x], b[b1 + k + x], columns > 2 ? b[b2 + k + x] : 0f, columns > 2 ? b[b3 + k + x] : 0f);
            for (int k = kVector; k < kEnd; k++)
                DotLane(acc, 0, lanes, columns, a[a0 + k], a[a1 + k], a[a2 + k], a[a3 + k],
                    b[b0 + k], b[b1 + k], columns > 2 ? b[b2 + k] : 0f, columns > 2 ? b[b3 + k] : 0f);
            int offset = splits == 1 ? 0 : split * s.M * s.N;
            int storeFlags = splits == 1 ? flags : 0;
            for (int r = 0; r < DotRows; r++)
            {
                int m = m0 + r;
                if (m >= s.M) break;
                for (int j = 0; j < columns; j++)
                    row[j] = lanes == Lanes ? LaneTiles.Sum(acc, (r * columns + j) * lanes) : LaneTiles.WideSum(acc, (r * columns + j) * lanes);
                Epilogue.StoreRow(c, offset + m * s.N + n0, row, 0, Min(columns, s.N - n0), n0, 1, bias, mask, storeFlags);
            }
        }
    }

    /// <summary>Lane x of the 4 x <paramref name="columns"/> outputs: acc[(r, j), x] += A[r] * B[j].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void DotLane(ArrayView<float> acc, int x, int lanes, int columns, float p0, float p1, float p2, float p3,
        float q0, float q1, float q2, float q3)
    {
        if (columns == 2)
        {
            LaneTiles.MulAdd8(acc, x, lanes, p0, p0, p1, p1, p2, p2, p3, p3, q0, q1, q0, q1, q0, q1, q0, q1);
            return;
        }
        LaneTiles.MulAdd8(acc, x, lanes, p0, p0, p0, p0, p1, p1, p1, p1, q0, q1, q2, q3, q0, q1, q2, q3);
        LaneTiles.MulAdd8(acc, x + 8 * lanes, lanes, p2, p2, p2, p2, p3, p3, p3, p3, q0, q1, q2, q3, q0, q1, q2, q3);
    }
}
