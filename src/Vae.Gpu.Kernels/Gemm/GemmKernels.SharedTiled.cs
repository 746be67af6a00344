using ILGPU;
using ILGPU.Runtime;
using static Vae.Gpu.Kernels.KernelIndex;

namespace Vae.Gpu.Kernels;

public static partial class GemmKernels
{
    public const int SharedTile = 16;

    /// <summary>Launch shape of <see cref="SharedTiled"/>: one 16x16 group per tile of C per split.</summary>
    public static KernelConfig SharedTiledConfig(in GemmShape s, int splits) =>
        new(new Index3D(DivUp(s.N, SharedTile), DivUp(s.M, SharedTile), splits),
            new Index3D(SharedTile, SharedTile, 1));

    /// <summary>
    /// Version 2. A 16x16 group loads a 16x16 tile of A and of B into shared memory per step of K (the
    /// loop runs over K, not M, unlike ILGPU's sample), then each thread sums its element of C from them.
    /// Same split and epilogue rules as version 1.
    /// </summary>
    [ExplicitlyGrouped]
    public static void SharedTiled(GemmArgs args)
    {
        GemmShape s = args.Shape;
        int splits = args.Splits, flags = args.Flags;
        ArrayView<float> a = args.A, b = args.B, bias = args.Bias, mask = args.Mask, c = args.C;
        // DenseX makes the first index the contiguous one: [a, b] is word a + 17 b. tx varies fastest in a warp
        // and comes second in every access below, so a padded row of 17 words puts the 16 threads of a
        // half-warp in 16 different banks (a row of 16 would put them all in one).
        var tileA = SharedMemory.Allocate2D<float, Stride2D.DenseX>(new Index2D(SharedTile + 1, SharedTile), new Stride2D.DenseX(SharedTile + 1));
        var tileB = SharedMemory.Allocate2D<float, Stride2D.DenseX>(new Index2D(SharedTile + 1, SharedTile), new Stride2D.DenseX(SharedTile + 1));
        int tx = Group.IdxX, ty = Group.IdxY;
        int n = Grid.IdxX * SharedTile + tx, m = Grid.IdxY * SharedTile + ty;
        int split = Grid.IdxZ;
        int perSplit = DivUp(s.K, splits);
        int kStart = split * perSplit, kEnd = Min(kStart + perSplit, s.K);

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

}
