using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;
using static Vae.Gpu.Kernels.KernelIndex;

namespace Vae.Gpu.Kernels;

public static partial class ConvKernels
{
    /// <summary>Output positions a work-item of version 8 computes per channel: two 16-lane vectors.</summary>
    public const int RunLength = 2 * LaneTiles.WideWidth;

    /// <summary>An output plane's positions counted along the input's rows: output (y, x) is position y * W + x,
    /// so its last row ends at (Ho - 1) * W + Wo; the W - Wo positions at the end of every other row are not outputs.</summary>
    static int RunPositions(ConvShape s) => (s.OutHeight - 1) * s.InWidth + s.OutWidth;

    /// <summary>Where version 8 runs its runs: 8 or more output channels, input rows at least a vector wide (a
    /// vector then spans at most two rows) and at least one run of positions; elsewhere it runs version 7.</summary>
    public static bool RunsFit(ConvShape s) =>
        s.OutChannels >= LaneChannels && s.InWidth >= LaneTiles.WideWidth && RunPositions(s) >= RunLength;

    public static int WideRunsThreads(ConvShape s) => RunsFit(s)
        ? s.Batch * DivUp(s.OutChannels, LaneChannels) * DivUp(RunPositions(s), RunLength)
        : WidePairsThreads(s);

    /// <summary>
    /// Version 8: version 7's 8 channels x 32 outputs, but the 32 are consecutive positions of the output plane
    /// counted along the input's rows (<see cref="RunPositions"/>), not two rows of 16 columns. A tap (i, u, v)
    /// of position p reads input p + u * W + v, so each tap reads two contiguous vectors of one input plane
    /// whatever rows they cross: no masked loads, no single-row tiles, and no tile that overlaps the row's last
    /// (a 24-wide output row of 16-column tiles computes 32 columns for 24; here a 26-wide input computes 26
    /// positions for 24 outputs). The store splits each vector at the row's end and leaves out the positions
    /// past Wo. Positions past the plane's last output are never computed (the last run ends at it, overlapping
    /// the one before), so every read stays in the plane. The input must be stored with its padding (the
    /// launcher pads it); flipped weights are read in place. Taps in the same order as versions 5-7. No profile
    /// picks it: in the training step it measured no faster than version 7 (docs/performance.md); <c>tune</c>
    /// picks it per call where it wins.
    /// </summary>
    public static void WideRuns(Index1D index, int stride, ConvArgs a)
    {
        const int lanes = LaneTiles.WideWidth;
        var acc = LocalMemory.Allocate<float>(RunLength * LaneChannels);
        ConvShape s = a.Shape;
        if (!RunsFit(s))
        {
            Pairs(index, stride, a, acc, lanes);
            return;
        }
        int flipped = a.Flipped, flags = a.Flags;
        ArrayView<float> input = a.Input, weight = a.Weight, bias = a.Bias, mask = a.Mask, output = a.Output;
        int ho = s.OutHeight, wo = s.OutWidth, k = s.Kernel, kk = k * k, oc = s.OutChannels, ic = s.InChannels;
        int h = s.InHeight, w = s.InWidth;
        int n = RunPositions(s), runs = DivUp(n, RunLength), chanTiles = DivUp(oc, LaneChannels);
        int iStep = flipped != 0 ? oc * kk : kk, sign = flipped != 0 ? -1 : 1;
        int second = LaneChannels * lanes;
        for (int item = index; item < WideRunsThreads(s); item += stride)
        {
            var run = RunTile.Of(item, runs, chanTiles, n);
            int p0 = run.P0, o0 = run.O0, b = run.B, skip = run.Skip;
            for (int j = 0; j < RunLength * LaneChannels; j++) acc[j] = 0f;
            // The second vector is the next 16 positions.
            PairTaps(s, input, weight, acc, o0, b * ic * h * w + p0, 0, lanes, w, h * w, iStep, sign, true, lanes);

            for (int r = 0; r < 2; r++)
            {
                // Vector r's first position (y, x), the lanes left in its row, and the lanes it stores.
                int q = p0 + r * lanes;
                int y = q / w, x = q - y * w, rest = w - x;
                int lo = Max(0, skip - r * lanes);
                int firstEnd = Min(lanes, wo - x), secondEnd = Min(lanes, rest + wo);
                for (int c = 0; c < LaneChannels; c++)
                {
                    int o = o0 + c;
                    if (o >= oc) break;
                    int row = ((b * oc + o) * ho + y) * wo;
                    // Lanes from `rest` on are row y + 1's columns 0..: output row + wo - rest + lane.
                    Epilogue.StoreLanesSplit(output, row + x, lo, firstEnd, row + wo - rest, Max(lo, rest), secondEnd,
                        acc, r * second + c * lanes, o, bias, mask, flags, lanes);
                }
            }
        }
    }

    /// <summary>A work-item's run of versions 8 and 9: image <see cref="B"/>, channels <see cref="O0"/> ..
    /// O0 + 7, positions <see cref="P0"/> .. P0 + 31 of a plane of positions; a plane's last run ends at its last
    /// position, overlapping the run before, whose first <see cref="Skip"/> positions that run stores.</summary>
    readonly struct RunTile
    {
        public readonly int P0, O0, B, Skip;

        RunTile(int p0, int o0, int b, int skip)
        {
            P0 = p0; O0 = o0; B = b; Skip = skip;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static RunTile Of(int item, int runs, int chanTiles, int positions)
        {
            int p0 = (item % runs) * RunLength, t = item / runs;
            int o0 = (t % chanTiles) * LaneChannels, b = t / chanTiles;
            return p0 + RunLength > positions
                ? new RunTile(positions - RunLength, o0, b, p0 + RunLength - positions)
                : new RunTile(p0, o0, b, 0);
        }
    }
}
