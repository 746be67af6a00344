using ILGPU;
using ILGPU.Runtime;

namespace Vae.Gpu.Kernels;

/// <summary>The versions of the convolution; each member is named after its kernel method in <see cref="ConvKernels"/>.</summary>
public enum ConvVersion { Tiled = 1, Coalesced = 2, Staged = 3, Rows = 4, LaneTiled = 5, LanePairs = 6 }

/// <summary>
/// One convolution as a layer asks for it: a valid cross-correlation of <see cref="Shape"/> whose input is
/// stored without its border of <see cref="Pad"/> zeros (the shape counts it), with the weight stored
/// (Out, In, K, K) or, when <see cref="Flipped"/>, stored (In, Out, K, K) and read rotated 180 degrees (a
/// transposed convolution's forward, a convolution's input gradient), finished by <see cref="Flags"/>.
/// </summary>
public readonly record struct ConvCall(ConvShape Shape, int Pad, bool Flipped, EpilogueFlags Flags)
{
    public int StoredInputLength => Shape.Batch * Shape.InChannels * (Shape.InHeight - 2 * Pad) * (Shape.InWidth - 2 * Pad);

    public override string ToString() =>
        $"{Shape}{(Pad > 0 ? $" pad {Pad}" : "")}{(Flipped ? " flipped" : "")}{EpilogueNames.Suffix(Flags)}";
}

/// <summary>The convolution family: its versions, the rule that says where each cannot run, and the launcher.</summary>
public static class ConvFamily
{
    public const string Name = "conv";

    /// <summary>Runs at every shape on every accelerator: what dispatch uses where the chosen version cannot run.</summary>
    public const ConvVersion Fallback = ConvVersion.Coalesced;

    public static string Describe(ConvVersion v) => v switch
    {
        ConvVersion.Tiled => "4 channels x 8 columns per thread",
        ConvVersion.Coalesced => "coalesced: a column x 8 channels per work-item",
        ConvVersion.Staged => "coalesced, weights staged in shared memory, pad/flip folded",
        ConvVersion.Rows => "rows: 8 channels x 32 columns per work-item, SIMD over columns, pad/flip folded",
        ConvVersion.LaneTiled => "lane tile: 8 channels x 8 columns in vector registers, pad/flip folded",
        ConvVersion.LanePairs => "lane tile of two rows: 8 channels x 2 rows x 8 columns (16 vector registers of accumulators: AVX-512), pad/flip folded",
        _ => throw new ArgumentOutOfRangeException(nameof(v)),
    };

    /// <summary>The version shaped for CPUs (a private accumulator array per work-item), which GPUs never run.</summary>
    public static bool CpuShaped(ConvVersion v) => v is ConvVersion.Rows or ConvVersion.LaneTiled or ConvVersion.LanePairs;

    /// <summary>Why version <paramref name="v"/> cannot run the call at shape <paramref name="s"/> on an accelerator with
    /// <paramref name="limits"/>; null when it can.</summary>
    public static string? WhyNot(ConvVersion v, ConvShape s, DeviceLimits limits)
    {
        int taps = s.InChannels * s.Kernel * s.Kernel;
        return v switch
        {
            ConvVersion.Staged when taps > ConvKernels.StagedMaxTaps =>
                $"stages at most {ConvKernels.StagedMaxTaps} taps (input channels x K x K); this layer has {taps}",
            ConvVersion.Staged when s.OutWidth * ConvKernels.StagedRows > limits.MaxGroupSize =>
                $"needs groups of Wo x {ConvKernels.StagedRows} = {s.OutWidth * ConvKernels.StagedRows} work-items; this accelerator allows {limits.MaxGroupSize}",
            ConvVersion.Staged when (long)s.Batch * KernelIndex.DivUp(s.OutChannels, ConvKernels.StagedChannels) > limits.MaxGridZ =>
                $"puts batch x output-channel tiles ({(long)s.Batch * KernelIndex.DivUp(s.OutChannels, ConvKernels.StagedChannels)}) in grid Z, whose limit here is {limits.MaxGridZ}",
            _ when limits.IsGpu && CpuShaped(v) => DeviceLimits.CpuShapedReason,
            ConvVersion.Rows when s.OutWidth > ConvKernels.RowLanes =>
                $"keeps rows of at most {ConvKernels.RowLanes} columns; this output is {s.OutWidth} wide",
            _ => null,
        };
    }

    /// <summary>Versions 1 and 2 read a padded input and an (Out, In, K, K) weight: a call with padding or a
    /// flipped weight writes those out first (two more launches); versions 3 and 4 read both in place.</summary>
    public static bool FoldsPadAndFlip(ConvVersion v) => v is ConvVersion.Staged or ConvVersion.Rows or ConvVersion.LaneTiled or ConvVersion.LanePairs;

    public static KernelCost Cost(ConvCall c) => KernelCost.ValidConv(c.Shape);

    /// <summary>Runs the call with version <paramref name="v"/> (which must be able to run it), including the
    /// padding and flipping launches the version needs.</summary>
    public static void Launch(KernelRunner r, ConvVersion v, ConvCall c, ArrayView<float> input, ArrayView<float> weight,
        ArrayView<float>? bias, ArrayView<float>? mask, ArrayView<float> output)
    {
        var s = c.Shape;
        int pad = c.Pad, flipped = c.Flipped ? 1 : 0;
        if (!FoldsPadAndFlip(v))
        {
            if (pad > 0)
            {
                var padded = r.Scratch(ScratchSlot.PaddedInput, s.InputLength);
                Pad(r, input, s.Batch * s.InChannels, s.InHeight - 2 * pad, s.InWidth - 2 * pad, pad, padded);
                input = padded;
            }
            if (flipped != 0)
            {
                var turned = r.Scratch(ScratchSlot.FlippedWeight, s.WeightLength);
                FlipTranspose(r, weight, s.InChannels, s.OutChannels, s.Kernel, turned);
                weight = turned;
            }
            pad = 0;
            flipped = 0;
        }

        var b = bias ?? r.None;
        var m = mask ?? r.None;
        int flags = (int)c.Flags;
        var t = r.Begin();
        switch (v)
        {
            case ConvVersion.Tiled:
            {
                int n = r.Threads(ConvKernels.TiledThreads(s));
                r.Stream<int, ConvShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(ConvKernels.Tiled)(
                    n, n, s, input, weight, b, m, flags, output);
                break;
            }
            case ConvVersion.Coalesced:
            {
                int n = r.Threads(ConvKernels.CoalescedThreads(s));
                r.Stream<int, ConvShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(ConvKernels.Coalesced)(
                    n, n, s, input, weight, b, m, flags, output);
                break;
            }
            case ConvVersion.Staged:
                r.Grouped<ConvShape, int, int, int, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(ConvKernels.Staged)(
                    ConvKernels.StagedConfig(s), s, s.InChannels * s.Kernel * s.Kernel, pad, flipped, input, weight, b, m, flags, output);
                break;
            case ConvVersion.Rows:
            {
                int n = r.Threads(ConvKernels.RowsThreads(s));
                r.Stream<int, ConvShape, int, int, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(ConvKernels.Rows)(
                    n, n, s, pad, flipped, input, weight, b, m, flags, output);
                break;
            }
            case ConvVersion.LaneTiled:
            {
                int n = r.Threads(ConvKernels.LaneTiledThreads(s));
                r.Stream<int, ConvShape, int, int, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(ConvKernels.LaneTiled)(
                    n, n, s, pad, flipped, input, weight, b, m, flags, output);
                break;
            }
            case ConvVersion.LanePairs:
            {
                int n = r.Threads(ConvKernels.LanePairsThreads(s));
                r.Stream<int, ConvShape, int, int, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(ConvKernels.LanePairs)(
                    n, n, s, pad, flipped, input, weight, b, m, flags, output);
                break;
            }
            default: throw new ArgumentOutOfRangeException(nameof(v));
        }
        r.End(t, new KernelLaunch(Name, v.ToString(), (int)v, c, Cost(c), 0));
    }

    /// <summary>output (planes, H+2p, W+2p) = input (planes, H, W) with a border of p zeros.</summary>
    public static void Pad(KernelRunner r, ArrayView<float> input, int planes, int height, int width, int pad, ArrayView<float> output)
    {
        var t = r.Begin();
        long items = (long)planes * (height + 2 * pad) * (width + 2 * pad);
        int n = r.Threads(items);
        r.Stream<int, ArrayView<float>, int, int, int, ArrayView<float>>(ConvKernels.Pad)(n, n, input, height, width, pad, output);
        r.End(t, new KernelLaunch(Name, nameof(ConvKernels.Pad), 0, null, KernelCost.Elementwise(items, 0, 2), 0));
    }

    /// <summary>output (Q, P, K, K) = weight (P, Q, K, K) transposed in its first two axes and rotated 180 degrees.</summary>
    public static void FlipTranspose(KernelRunner r, ArrayView<float> weight, int p, int q, int k, ArrayView<float> output)
    {
        var t = r.Begin();
        int n = r.Threads(p * q * k * k);
        r.Stream<int, ArrayView<float>, int, int, int, ArrayView<float>>(ConvKernels.FlipTranspose)(n, n, weight, p, q, k, output);
        r.End(t, new KernelLaunch(Name, nameof(ConvKernels.FlipTranspose), 0, null, KernelCost.Elementwise(p * q * k * k, 0, 2), 0));
    }
}
