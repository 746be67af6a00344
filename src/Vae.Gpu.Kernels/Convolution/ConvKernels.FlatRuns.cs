using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;
using static Vae.Gpu.Kernels.KernelIndex;

namespace Vae.Gpu.Kernels;

public static partial class ConvKernels
{
    /// <summary>Where version 9 runs its runs: an unpadded call with 8 or more input channels (with fewer, the
    /// merges weigh more against a tap's FMAs, and version 7 measured faster: docs/performance.md), 8 or more
    /// output channels, output rows at least a vector wide (a vector then spans at most two rows) and a plane of
    /// at least one run; elsewhere it runs version 7.</summary>
    public static bool FlatRunsFit(ConvShape s, int pad) =>
        pad == 0 && s.InChannels >= LaneChannels && s.OutChannels >= LaneChannels && s.OutWidth >= LaneTiles.WideWidth && s.OutHeight * s.OutWidth >= RunLength;

    public static int FlatRunsThreads(ConvShape s) =>
        s.Batch * DivUp(s.OutChannels, LaneChannels) * DivUp(s.OutHeight * s.OutWidth, RunLength);

    /// <summary>Threads of a launch of version 9 (which runs version 7 where its runs do not fit).</summary>
    public static int FlatRunsLaunchThreads(ConvShape s, int pad) => FlatRunsFit(s, pad) ? FlatRunsThreads(s) : WidePairsThreads(s);

    /// <summary>
    /// Version 9: version 7's 8 channels x 32 outputs, but the 32 are consecutive positions of the output plane
    /// (output (y, x) is position y * Wo + x), two 16-lane vectors that may each cross one row's end. Every lane
    /// computes an output: a 24-wide row of version 7's 16-column tiles computes 32 columns for 24. Output
    /// position p's tap (u, v) reads input p + y (K - 1) + u W + v, so the lanes of a vector before the row's end
    /// read one contiguous piece and the lanes after it the next, K - 1 further on: two masked loads merged. Only
    /// a vector that crosses a row's end pays for them: each combination of the run's two vectors has a tap loop
    /// of its own, the others read plain loads (merges in every vector made the loop slower than version 7's:
    /// docs/performance.md). Each vector is stored whole to contiguous positions, without masks; a plane's last run ends
    /// at its last position, overlapping the run before (its first positions rewrite the same sums). Taps in the
    /// same order as versions 5-8, so the same results. Unpadded calls of 8 or more input channels
    /// (<see cref="FlatRunsFit"/>: the step's 16->32 convolution and the input gradient of its transposed twin);
    /// the others run version 7.
    /// </summary>
    public static void FlatRuns(Index1D index, int stride, ConvArgs a)
    {
        const int lanes = LaneTiles.WideWidth;
        var acc = LocalMemory.Allocate<float>(RunLength * LaneChannels);
        ConvShape s = a.Shape;
        if (!FlatRunsFit(s, a.Pad))
        {
            Pairs(index, stride, a, acc, lanes);
            return;
        }
        int flipped = a.Flipped, flags = a.Flags;
        ArrayView<float> input = a.Input, weight = a.Weight, bias = a.Bias, mask = a.Mask, output = a.Output;
        int wo = s.OutWidth, k = s.Kernel, kk = k * k, oc = s.OutChannels, ic = s.InChannels;
        int h = s.InHeight, w = s.InWidth, n = s.OutHeight * wo;
        int runs = DivUp(n, RunLength), chanTiles = DivUp(oc, LaneChannels);
        int iStep = flipped != 0 ? oc * kk : kk, sign = flipped != 0 ? -1 : 1;
        int rowAcc = LaneChannels * lanes;
        for (int item = index; item < FlatRunsThreads(s); item += stride)
        {
            var run = RunTile.Of(item, runs, chanTiles, n);
            int p0 = run.P0, o0 = run.O0, b = run.B, skip = run.Skip;
            PrefetchNextImage(s, 0, input, output, mask, flags, b, item % (runs * chanTiles), runs * chanTiles);
            for (int j = 0; j < RunLength * LaneChannels; j++) acc[j] = 0f;
            // Each vector's first input element and the lane where its next row starts (lanes when none does).
            int y0 = p0 / wo, y1 = (p0 + lanes) / wo;
            int image = b * ic * h * w, first = image + p0 + y0 * (k - 1), second = image + p0 + lanes + y1 * (k - 1);
            int split0 = Min(lanes, (y0 + 1) * wo - p0), split1 = Min(lanes, (y1 + 1) * wo - p0 - lanes);
            // A vector within one row reads one plain load a tap; only a vector that crosses a row's end merges
            // two masked loads (each variant a loop of its own, so that the plain ones carry no masks).
            bool cross0 = split0 < lanes, cross1 = split1 < lanes;
            if (!cross0 && !cross1) FlatTaps(s, input, weight, acc, o0, first, second, split0, split1, w, h * w, iStep, sign, false, false);
            else if (!cross0) FlatTaps(s, input, weight, acc, o0, first, second, split0, split1, w, h * w, iStep, sign, false, true);
            else if (!cross1) FlatTaps(s, input, weight, acc, o0, first, second, split0, split1, w, h * w, iStep, sign, true, false);
            else FlatTaps(s, input, weight, acc, o0, first, second, split0, split1, w, h * w, iStep, sign, true, true);
            int plane = (b * oc + o0) * n, chans = Min(LaneChannels, oc - o0);
            LaneTiles.StoreBlock(output, plane + p0, 0, n, 1, chans, acc, rowAcc, Min(skip, lanes), lanes, o0, bias, mask, flags, lanes);
            LaneTiles.StoreBlock(output, plane + p0 + lanes, 0, n, 1, chans, acc.SubView(rowAcc, rowAcc), rowAcc, Max(0, skip - lanes),
                lanes, o0, bias, mask, flags, lanes);
        }
    }

    /// <summary>Every tap of version 9's run, in the order of <see cref="PairTaps"/>: vector r's lanes before
    /// split_r read input from its first element on, the lanes from split_r on K - 1 further. A loop of its own:
    /// PairTaps with the merges as options ran slower in version 9's loops (docs/performance.md).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void FlatTaps(ConvShape s, ArrayView<float> input, ArrayView<float> weight, ArrayView<float> acc, int o0,
        int first, int second, int split0, int split1, int w, int planeSize, int iStep, int sign, bool cross0, bool cross1)
    {
        int k = s.Kernel, oc = s.OutChannels, ic = s.InChannels, kk = k * k, jump = k - 1;
        int flipped = sign < 0 ? 1 : 0;
        var cb = ChannelBases.Of(flipped, o0, oc, ic, kk);
        int u = 0;
        do
        {
            int v = 0;
            do
            {
                int shift = u * w + v, at = sign * (u * k + v);
                int f = first + shift, g = second + shift;
                int i = 0;
                do
                {
                    FlatTap(input, weight, acc, f, g, split0, split1, jump, at, cb, cross0, cross1);
                    f += planeSize;
                    g += planeSize;
                    at += iStep;
                } while (++i < ic);
            } while (++v < k);
        } while (++u < k);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void FlatTap(ArrayView<float> input, ArrayView<float> weight, ArrayView<float> acc, int f, int g, int split0, int split1, int jump,
        int at, ChannelBases cb, bool cross0, bool cross1)
    {
        const int lanes = LaneTiles.WideWidth;
        const int second = LaneChannels * lanes;
        float q0 = weight[cb.W0 + at], q1 = weight[cb.W1 + at], q2 = weight[cb.W2 + at], q3 = weight[cb.W3 + at];
        float q4 = weight[cb.W4 + at], q5 = weight[cb.W5 + at], q6 = weight[cb.W6 + at], q7 = weight[cb.W7 + at];
        for (int x = 0; x < lanes; x++)
        {
            // Two masked loads added (one of the two is 0): a select between the loads became a gather.
            float p0 = cross0 ? (x < split0 ? input[f + x] : 0f) + (x >= split0 ? input[f + jump + x] : 0f) : input[f + x];
            float p1 = cross1 ? (x < split1 ? input[g + x] : 0f) + (x >= split1 ? input[g + jump + x] : 0f) : input[g + x];
            LaneTiles.AccumulateColumn(acc, x, lanes, p0, q0, q1, q2, q3, q4, q5, q6, q7);
            LaneTiles.AccumulateColumn(acc, second + x, lanes, p1, q0, q1, q2, q3, q4, q5, q6, q7);
        }
    }
}
