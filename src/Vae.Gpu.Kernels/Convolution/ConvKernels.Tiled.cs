using ILGPU;
using ILGPU.Runtime;
using static Vae.Gpu.Kernels.KernelIndex;

namespace Vae.Gpu.Kernels;

/// <summary>
/// The convolution kernels. Every convolution of the model is a valid cross-correlation:
/// Conv2d forward and ConvTranspose2d's input gradient directly, ConvTranspose2d forward and Conv2d's
/// input gradient on a zero-padded input with flipped, transposed weights (<see cref="Pad"/>,
/// <see cref="FlipTranspose"/>). Weight gradients of both layers are <see cref="WeightGradKernels"/>.
/// </summary>
public static partial class ConvKernels
{
    /// <summary>Each thread of <see cref="Tiled"/> computes TileChannels x TileWidth outputs in registers.</summary>
    public const int TileChannels = 4, TileWidth = 8;

    public static int TiledThreads(ConvShape s) =>
        s.Batch * DivUp(s.OutChannels, TileChannels) * s.OutHeight * DivUp(s.OutWidth, TileWidth);

    /// <summary>
    /// output[b, o, y, x] = epilogue(sum_{i, u, v} input[b, i, y+u, x+v] * weight[o, i, u, v]).
    /// One thread: 4 output channels x 8 adjacent columns of one row; the tile past the edge reads a
    /// clamped (valid) address and skips its store, so the inner loop has no branches.
    /// </summary>
    public static void Tiled(Index1D index, int stride, ConvArgs a)
    {
        ConvShape s = a.Shape;
        int flags = a.Flags;
        ArrayView<float> input = a.Input, weight = a.Weight, bias = a.Bias, mask = a.Mask, output = a.Output;
        for (int tile = index; tile < TiledThreads(s); tile += stride)
            TiledTile(tile, s, input, weight, bias, mask, flags, output);
    }

    static void TiledTile(
        int tile, ConvShape s, ArrayView<float> input, ArrayView<float> weight,
        ArrayView<float> bias, ArrayView<float> mask, int flags, ArrayView<float> output)
    {
        int ho = s.OutHeight, wo = s.OutWidth, k = s.Kernel, h = s.InHeight, w = s.InWidth;
        int colTiles = DivUp(wo, TileWidth), chanTiles = DivUp(s.OutChannels, TileChannels);
        int t = tile;
        int x0 = (t % colTiles) * TileWidth; t /= colTiles;
        int y = t % ho; t /= ho;
        int o0 = (t % chanTiles) * TileChannels;
        int b = t / chanTiles;

        int c1 = Min(x0 + 1, wo - 1), c2 = Min(x0 + 2, wo - 1), c3 = Min(x0 + 3, wo - 1);
        int c4 = Min(x0 + 4, wo - 1), c5 = Min(x0 + 5, wo - 1), c6 = Min(x0 + 6, wo - 1), c7 = Min(x0 + 7, wo - 1);
        int kk = k * k, wPerOut = s.InChannels * kk;
        int wa = o0 * wPerOut, wb = Min(o0 + 1, s.OutChannels - 1) * wPerOut;
        int wc = Min(o0 + 2, s.OutChannels - 1) * wPerOut, wd = Min(o0 + 3, s.OutChannels - 1) * wPerOut;

        // 32 accumulators: AVX-512's 32 vector registers hold them all (a 4x4 tile was slower; docs/performance.md).
        float a00 = 0, a01 = 0, a02 = 0, a03 = 0, a04 = 0, a05 = 0, a06 = 0, a07 = 0;
        float a10 = 0, a11 = 0, a12 = 0, a13 = 0, a14 = 0, a15 = 0, a16 = 0, a17 = 0;
        float a20 = 0, a21 = 0, a22 = 0, a23 = 0, a24 = 0, a25 = 0, a26 = 0, a27 = 0;
        float a30 = 0, a31 = 0, a32 = 0, a33 = 0, a34 = 0, a35 = 0, a36 = 0, a37 = 0;
        for (int i = 0; i < s.InChannels; i++)
        {
            int inPlane = ((b * s.InChannels + i) * h + y) * w;
            int wi = i * kk;
            for (int u = 0; u < k; u++)
            {
                int row = inPlane + u * w;
                int wu = wi + u * k;
                for (int v = 0; v < k; v++)
                {
                    int r = row + v;
                    float p0 = input[r + x0], p1 = input[r + c1], p2 = input[r + c2], p3 = input[r + c3];
                    float p4 = input[r + c4], p5 = input[r + c5], p6 = input[r + c6], p7 = input[r + c7];
                    int wv = wu + v;
                    float q0 = weight[wa + wv], q1 = weight[wb + wv], q2 = weight[wc + wv], q3 = weight[wd + wv];
                    a00 += q0 * p0; a01 += q0 * p1; a02 += q0 * p2; a03 += q0 * p3; a04 += q0 * p4; a05 += q0 * p5; a06 += q0 * p6; a07 += q0 * p7;
                    a10 += q1 * p0; a11 += q1 * p1; a12 += q1 * p2; a13 += q1 * p3; a14 += q1 * p4; a15 += q1 * p5; a16 += q1 * p6; a17 += q1 * p7;
                    a20 += q2 * p0; a21 += q2 * p1; a22 += q2 * p2; a23 += q2 * p3; a24 += q2 * p4; a25 += q2 * p5; a26 += q2 * p6; a27 += q2 * p7;
                    a30 += q3 * p0; a31 += q3 * p1; a32 += q3 * p2; a33 += q3 * p3; a34 += q3 * p4; a35 += q3 * p5; a36 += q3 * p6; a37 += q3 * p7;
                }
            }
        }

        StoreRow(s, b, o0, y, x0, a00, a01, a02, a03, a04, a05, a06, a07, bias, mask, flags, output);
        StoreRow(s, b, o0 + 1, y, x0, a10, a11, a12, a13, a14, a15, a16, a17, bias, mask, flags, output);
        StoreRow(s, b, o0 + 2, y, x0, a20, a21, a22, a23, a24, a25, a26, a27, bias, mask, flags, output);
        StoreRow(s, b, o0 + 3, y, x0, a30, a31, a32, a33, a34, a35, a36, a37, bias, mask, flags, output);
    }


    static void StoreRow(
        ConvShape s, int b, int o, int y, int x0, float c0, float c1, float c2, float c3,
        float c4, float c5, float c6, float c7,
        ArrayView<float> bias, ArrayView<float> mask, int flags, ArrayView<float> output)
    {
        if (o >= s.OutChannels) return;
        int wo = s.OutWidth;
        int at = ((b * s.OutChannels + o) * s.OutHeight + y) * wo + x0;
        Epilogue.Store(output, at, c0, o, bias, mask, flags);
        if (x0 + 1 < wo) Epilogue.Store(output, at + 1, c1, o, bias, mask, flags);
        if (x0 + 2 < wo) Epilogue.Store(output, at + 2, c2, o, bias, mask, flags);
        if (x0 + 3 < wo) Epilogue.Store(output, at + 3, c3, o, bias, mask, flags);
        if (x0 + 4 < wo) Epilogue.Store(output, at + 4, c4, o, bias, mask, flags);
        if (x0 + 5 < wo) Epilogue.Store(output, at + 5, c5, o, bias, mask, flags);
        if (x0 + 6 < wo) Epilogue.Store(output, at + 6, c6, o, bias, mask, flags);
        if (x0 + 7 < wo) Epilogue.Store(output, at + 7, c7, o, bias, mask, flags);
    }
}
