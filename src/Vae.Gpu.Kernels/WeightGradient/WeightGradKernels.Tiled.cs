using ILGPU;
using ILGPU.Runtime;
using static Vae.Gpu.Kernels.KernelIndex;

namespace Vae.Gpu.Kernels;

/// <summary>
/// The convolutions' weight gradients (both layers': a transposed convolution's is a convolution's with the
/// two sides swapped), with the bias gradient in the same launch, as partial sums over batch chunks.
/// </summary>
public static partial class WeightGradKernels
{
    /// <summary>The weight gradient's register tile: 8 gradient-side channels x 4 input-side channels of one tap.</summary>
    public const int GradTileOut = 8, GradTileIn = 4;

    public static int TiledThreads(ConvShape s, int chunks) =>
        DivUp(s.OutChannels, GradTileOut) * DivUp(s.InChannels, GradTileIn) * s.Kernel * s.Kernel * chunks;

    /// <summary>
    /// Partial weight gradient over one slice of the batch:
    /// partials[c, o, i, u, v] = sum_{b in chunk c, y, x} grad[b, o, y, x] * input[b, i, y+u, x+v]
    /// for grad (B, Out, Ho, Wo) and input (B, In, H, W) of shape the shape.
    /// One thread owns an 8 (o) x 4 (i) tile of one tap (u, v) of one chunk: no atomics; the chunks are
    /// summed in a fixed order by <see cref="ReductionKernels.SumPartials"/>. The bias gradient rides along
    /// (see <see cref="BiasPartials"/>), so a layer's whole parameter gradient is one launch and one sum.
    /// </summary>
    public static void Tiled(Index1D index, int stride, WeightGradArgs a)
    {
        ConvShape s = a.Shape;
        int chunks = a.Chunks, biasChannels = a.BiasChannels, biasPlane = a.BiasPlane;
        ArrayView<float> grad = a.Grad, input = a.Input, biasSource = a.BiasSource, partials = a.Partials;
        int chunkStride = s.WeightLength + biasChannels;
        for (int tile = index; tile < TiledThreads(s, chunks); tile += stride)
            WeightGradTile(tile, s, grad, input, chunks, chunkStride, partials);
        BiasPartials(index, stride, s.Batch, chunks, chunkStride, s.WeightLength, biasSource, biasChannels, biasPlane, partials);
    }

    static void WeightGradTile(
        int tile, ConvShape s, ArrayView<float> grad, ArrayView<float> input, int chunks, int chunkStride, ArrayView<float> partials)
    {
        int k = s.Kernel, oc = s.OutChannels, ic = s.InChannels;
        int oTiles = DivUp(oc, GradTileOut), iTiles = DivUp(ic, GradTileIn);
        int t = tile;
        int v = t % k; t /= k;
        int u = t % k; t /= k;
        int i0 = (t % iTiles) * GradTileIn; t /= iTiles;
        int o0 = (t % oTiles) * GradTileOut;
        int chunk = t / oTiles;

        int perChunk = DivUp(s.Batch, chunks);
        int bStart = chunk * perChunk, bEnd = Min(bStart + perChunk, s.Batch);
        int ho = s.OutHeight, wo = s.OutWidth, h = s.InHeight, w = s.InWidth;
        int gPlane = ho * wo, xPlane = h * w, shift = u * w + v;

        float a00 = 0, a01 = 0, a02 = 0, a03 = 0, a10 = 0, a11 = 0, a12 = 0, a13 = 0;
        float a20 = 0, a21 = 0, a22 = 0, a23 = 0, a30 = 0, a31 = 0, a32 = 0, a33 = 0;
        float a40 = 0, a41 = 0, a42 = 0, a43 = 0, a50 = 0, a51 = 0, a52 = 0, a53 = 0;
        float a60 = 0, a61 = 0, a62 = 0, a63 = 0, a70 = 0, a71 = 0, a72 = 0, a73 = 0;
        for (int b = bStart; b < bEnd; b++)
        {
            // Planes past the last channel are read clamped and never stored.
            int gb = b * oc, xb = b * ic;
            int g0 = (gb + o0) * gPlane, g1 = (gb + Min(o0 + 1, oc - 1)) * gPlane;
            int g2 = (gb + Min(o0 + 2, oc - 1)) * gPlane, g3 = (gb + Min(o0 + 3, oc - 1)) * gPlane;
            int g4 = (gb + Min(o0 + 4, oc - 1)) * gPlane, g5 = (gb + Min(o0 + 5, oc - 1)) * gPlane;
            int g6 = (gb + Min(o0 + 6, oc - 1)) * gPlane, g7 = (gb + Min(o0 + 7, oc - 1)) * gPlane;
            int x0 = (xb + i0) * xPlane + shift, x1 = (xb + Min(i0 + 1, ic - 1)) * xPlane + shift;
            int x2 = (xb + Min(i0 + 2, ic - 1)) * xPlane + shift, x3 = (xb + Min(i0 + 3, ic - 1)) * xPlane + shift;
            for (int y = 0; y < ho; y++)
            {
                int gRow = y * wo, xRow = y * w;
                for (int x = 0; x < wo; x++)
                {
                    int gi = gRow + x, xi = xRow + x;
                    float q0 = input[x0 + xi], q1 = input[x1 + xi], q2 = input[x2 + xi], q3 = input[x3 + xi];
                    float p = grad[g0 + gi]; a00 += p * q0; a01 += p * q1; a02 += p * q2; a03 += p * q3;
                    p = grad[g1 + gi]; a10 += p * q0; a11 += p * q1; a12 += p * q2; a13 += p * q3;
                    p = grad[g2 + gi]; a20 += p * q0; a21 += p * q1; a22 += p * q2; a23 += p * q3;
                    p = grad[g3 + gi]; a30 += p * q0; a31 += p * q1; a32 += p * q2; a33 += p * q3;
                    p = grad[g4 + gi]; a40 += p * q0; a41 += p * q1; a42 += p * q2; a43 += p * q3;
                    p = grad[g5 + gi]; a50 += p * q0; a51 += p * q1; a52 += p * q2; a53 += p * q3;
                    p = grad[g6 + gi]; a60 += p * q0; a61 += p * q1; a62 += p * q2; a63 += p * q3;
                    p = grad[g7 + gi]; a70 += p * q0; a71 += p * q1; a72 += p * q2; a73 += p * q3;
                }
            }
        }

        int kk = k * k, tap = u * k + v, baseOffset = chunk * chunkStride;
        StoreGradRow(partials, baseOffset, o0, i0, oc, ic, kk, tap, a00, a01, a02, a03);
        StoreGradRow(partials, baseOffset, o0 + 1, i0, oc, ic, kk, tap, a10, a11, a12, a13);
        StoreGradRow(partials, baseOffset, o0 + 2, i0, oc, ic, kk, tap, a20, a21, a22, a23);
        StoreGradRow(partials, baseOffset, o0 + 3, i0, oc, ic, kk, tap, a30, a31, a32, a33);
        StoreGradRow(partials, baseOffset, o0 + 4, i0, oc, ic, kk, tap, a40, a41, a42, a43);
        StoreGradRow(partials, baseOffset, o0 + 5, i0, oc, ic, kk, tap, a50, a51, a52, a53);
        StoreGradRow(partials, baseOffset, o0 + 6, i0, oc, ic, kk, tap, a60, a61, a62, a63);
        StoreGradRow(partials, baseOffset, o0 + 7, i0, oc, ic, kk, tap, a70, a71, a72, a73);
    }

    static void StoreGradRow(
        ArrayView<float> partials, int baseOffset, int o, int i0, int oc, int ic, int kk, int tap,
        float c0, float c1, float c2, float c3)
    {
        if (o >= oc) return;
        int at = baseOffset + (o * ic + i0) * kk + tap;
        partials[at] = c0;
        if (i0 + 1 < ic) partials[at + kk] = c1;
        if (i0 + 2 < ic) partials[at + 2 * kk] = c2;
        if (i0 + 3 < ic) partials[at + 3 * kk] = c3;
    }

}
