using ILGPU;
using ILGPU.Runtime;
using static Vae.Gpu.Kernels.KernelIndex;

namespace Vae.Gpu.Kernels;

public static partial class ConvKernels
{
    /// <summary>Version 3's tile: output channels per group, output rows per group, and the most taps
    /// (input channels x K x K) whose weights a group stages in shared memory; larger layers use version 2.</summary>
    public const int StagedChannels = 8, StagedRows = 8, StagedMaxTaps = 1024;

    /// <summary>
    /// Launch shape of <see cref="Staged"/>: a group is the output columns x <see cref="StagedRows"/>
    /// rows of one image, for <see cref="StagedChannels"/> output channels.
    /// </summary>
    public static KernelConfig StagedConfig(ConvShape s) =>
        new(new Index3D(1, DivUp(s.OutHeight, StagedRows), s.Batch * DivUp(s.OutChannels, StagedChannels)),
            new Index3D(s.OutWidth, StagedRows, 1));

    /// <summary>
    /// Version 3 of <see cref="Tiled"/>: the input is read as if surrounded by <see cref="ConvArgs.Pad"/> zeros
    /// (s gives the padded size) and, when <see cref="ConvArgs.Flipped"/> is 1, the weight stored (In, Out, K, K)
    /// is read flipped and transposed, so a full convolution needs no Pad or FlipTranspose pass.
    /// Work-item (x, row) = one output column: consecutive work-items on consecutive addresses. The group
    /// stages its 8 output channels' weights in shared memory (tap-major, 8 per tap) behind one barrier, then
    /// runs one loop over the <see cref="ConvArgs.Taps"/> = In x K x K taps. That shape is also what PoCL
    /// vectorizes: a kernel with a barrier whose inner loop has a uniform trip count (a field of its argument,
    /// counted from 0 by 1) gets an implicit barrier in that loop, so each tap becomes a SIMD loop over the
    /// group's work-items instead of a scalar loop per work-item.
    /// </summary>
    [ExplicitlyGrouped]
    public static void Staged(ConvArgs a)
    {
        ConvShape s = a.Shape;
        int taps = a.Taps, pad = a.Pad, flipped = a.Flipped, flags = a.Flags;
        ArrayView<float> input = a.Input, weight = a.Weight, bias = a.Bias, mask = a.Mask, output = a.Output;
        var staged = SharedMemory.Allocate<float>(StagedChannels * StagedMaxTaps);
        int ho = s.OutHeight, wo = s.OutWidth, k = s.Kernel, kk = k * k, oc = s.OutChannels, ic = s.InChannels;
        int h = s.InHeight - 2 * pad, w = s.InWidth - 2 * pad;
        int chanTiles = DivUp(oc, StagedChannels);
        int x = Group.IdxX, yOut = Grid.IdxY * StagedRows + Group.IdxY, y = Min(yOut, ho - 1);
        int o0 = (Grid.IdxZ % chanTiles) * StagedChannels, b = Grid.IdxZ / chanTiles;
        int lane = Group.IdxY * Group.DimX + Group.IdxX, lanes = Group.DimX * Group.DimY;
        for (int j = lane; j < StagedChannels * taps; j += lanes)
        {
            // Channels past the last are staged clamped and never stored.
            int tap = j / StagedChannels, o = Min(o0 + j % StagedChannels, oc - 1);
            int i = tap / kk, r = tap - i * kk;
            staged[j] = flipped != 0 ? weight[(i * oc + o) * kk + kk - 1 - r] : weight[o * taps + tap];
        }
        Group.Barrier();

        int plane = b * ic;
        float a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
        // Tap j = (channel i, row u, column v), counted up alongside j rather than divided out of it: two
        // integer divisions by runtime values per tap cost more on a GPU than the multiply-adds they feed.
        int ci = 0, u = 0, v = 0;
        for (int j = 0; j < taps; j++)
        {
            int iy = y + u - pad, ix = x + v - pad;
            float p = iy >= 0 && iy < h && ix >= 0 && ix < w ? input[((plane + ci) * h + iy) * w + ix] : 0f;
            int q = j * StagedChannels;
            a0 += staged[q] * p; a1 += staged[q + 1] * p; a2 += staged[q + 2] * p; a3 += staged[q + 3] * p;
            a4 += staged[q + 4] * p; a5 += staged[q + 5] * p; a6 += staged[q + 6] * p; a7 += staged[q + 7] * p;
            if (++v == k)
            {
                v = 0;
                if (++u == k) { u = 0; ci++; }
            }
        }
        if (yOut >= ho) return;
        StoreChannels(output, ((b * oc + o0) * ho + y) * wo + x, ho * wo, o0, oc, a0, a1, a2, a3, a4, a5, a6, a7, bias, mask, flags);
    }
}
