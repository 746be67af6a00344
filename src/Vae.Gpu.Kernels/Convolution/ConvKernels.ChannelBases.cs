using System.Runtime.CompilerServices;
using static Vae.Gpu.Kernels.KernelIndex;

namespace Vae.Gpu.Kernels;

public static partial class ConvKernels
{
    /// <summary>Where each of 8 output channels' taps start in the weight (the CPU-shaped versions' tiles of
    /// <see cref="LaneChannels"/> channels); tap (i, u, v) of channel o0 + c is at Wc + i * iStep + sign * (u * K + v).
    /// Channels past the last read the last one's taps and are never stored.</summary>
    readonly struct ChannelBases
    {
        public readonly int W0, W1, W2, W3, W4, W5, W6, W7;

        ChannelBases(int w0, int w1, int w2, int w3, int w4, int w5, int w6, int w7)
        {
            W0 = w0; W1 = w1; W2 = w2; W3 = w3; W4 = w4; W5 = w5; W6 = w6; W7 = w7;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ChannelBases Of(int flipped, int o0, int oc, int ic, int kk) => new(
            RowWeightBase(flipped, o0, oc, ic, kk), RowWeightBase(flipped, o0 + 1, oc, ic, kk),
            RowWeightBase(flipped, o0 + 2, oc, ic, kk), RowWeightBase(flipped, o0 + 3, oc, ic, kk),
            RowWeightBase(flipped, o0 + 4, oc, ic, kk), RowWeightBase(flipped, o0 + 5, oc, ic, kk),
            RowWeightBase(flipped, o0 + 6, oc, ic, kk), RowWeightBase(flipped, o0 + 7, oc, ic, kk));
    }

    /// <summary>Where output channel o's taps start (o clamped to the last channel): tap (i, u, v) is then at
    /// base + i * iStep + sign * (u * K + v), see <see cref="Rows"/>.</summary>
    static int RowWeightBase(int flipped, int o, int oc, int ic, int kk)
    {
        o = Min(o, oc - 1);
        return flipped != 0 ? o * kk + kk - 1 : o * ic * kk;
    }
}
