using ILGPU;
using ILGPU.Runtime;

namespace Vae.Gpu.Kernels;

/// <summary>The versions of the convolution; each member is named after its kernel method in <see cref="ConvKernels"/>.</summary>
public enum ConvVersion { Tiled = 1, Coalesced = 2, Staged = 3, Rows = 4, LaneTiled = 5, LanePairs = 6, WidePairs = 7, WideRuns = 8, FlatRuns = 9 }

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

/// <summary>
/// The arguments of every convolution version: the shape (counting the padding), the border of <see cref="Pad"/>
/// zeros the stored input lacks, whether the weight is read flipped, the input channels x K x K taps, the
/// buffers and the epilogue. Versions that do not fold padding and flipping get 0 and 0 (their launcher pads and
/// flips first).
/// </summary>
public struct ConvArgs
{
    public ConvShape Shape;
    public int Pad, Flipped, Taps, Flags;
    public ArrayView<float> Input, Weight, Bias, Mask, Output;
}

/// <summary>The convolution family: its versions, one row each, and the launcher.</summary>
public static class ConvFamily
{
    public const string Name = "conv";

    /// <summary>Runs at every shape on every accelerator: what dispatch uses where the chosen version cannot run.</summary>
    public const ConvVersion Fallback = ConvVersion.Coalesced;

    const VersionTraits Cpu = VersionTraits.CpuShaped, Folds = VersionTraits.FoldsPadAndFlip;

    static VersionRow<ConvVersion, ConvShape, ConvArgs> Stream(ConvVersion v, Action<Index1D, int, ConvArgs> kernel, Func<ConvShape, int> threads,
        string description, VersionTraits traits = VersionTraits.None, Func<ConvShape, DeviceLimits, string?>? rule = null) =>
        VersionRow<ConvVersion, ConvShape, ConvArgs>.Stream(Name, v, kernel, a => threads(a.Shape), description, traits, rule);

    /// <summary>Every version, one row each: kernel, launch sizing, description, traits and rule.</summary>
    public static readonly VersionTable<ConvVersion, ConvShape, ConvArgs> Versions = new(Name, new[]
    {
        Stream(ConvVersion.Tiled, ConvKernels.Tiled, ConvKernels.TiledThreads, "4 channels x 8 columns per thread"),
        Stream(ConvVersion.Coalesced, ConvKernels.Coalesced, ConvKernels.CoalescedThreads, "coalesced: a column x 8 channels per work-item"),
        VersionRow<ConvVersion, ConvShape, ConvArgs>.Grouped(Name, ConvVersion.Staged, ConvKernels.Staged, a => ConvKernels.StagedConfig(a.Shape), a => a.Shape.OutputLength,
            "coalesced, weights staged in shared memory, pad/flip folded", Folds, StagedWhyNot),
        Stream(ConvVersion.Rows, ConvKernels.Rows, ConvKernels.RowsThreads, "rows: 8 channels x 32 columns per work-item, SIMD over columns, pad/flip folded",
            Cpu | Folds, (s, _) => s.OutWidth > ConvKernels.RowLanes ? $"keeps rows of at most {ConvKernels.RowLanes} columns; this output is {s.OutWidth} wide" : null),
        Stream(ConvVersion.LaneTiled, ConvKernels.LaneTiled, ConvKernels.LaneTiledThreads, "lane tile: 8 channels x 8 columns in vector registers, pad/flip folded", Cpu | Folds),
        Stream(ConvVersion.LanePairs, ConvKernels.LanePairs, ConvKernels.LanePairsThreads,
            "lane tile of two rows: 8 channels x 2 rows x 8 columns (16 vector registers of accumulators: AVX-512), pad/flip folded", Cpu | Folds),
        Stream(ConvVersion.WidePairs, ConvKernels.WidePairs, ConvKernels.WidePairsThreads,
            "wide lane tile of two rows: 8 channels x 2 rows x 16 columns (16 512-bit registers of accumulators), pad/flip folded", Cpu | Folds),
        Stream(ConvVersion.WideRuns, ConvKernels.WideRuns, ConvKernels.WideRunsThreads,
            "wide runs: 8 channels x 32 consecutive positions along the input's rows (no masks, no ragged tiles), input padded first, flip folded",
            Cpu | VersionTraits.FoldsFlip),
        VersionRow<ConvVersion, ConvShape, ConvArgs>.Stream(Name, ConvVersion.FlatRuns, ConvKernels.FlatRuns, a => ConvKernels.FlatRunsLaunchThreads(a.Shape, a.Pad),
            "flat runs: 8 channels x 32 consecutive output positions (rows crossed by merged loads; every lane an output), unpadded calls of 8+ input channels; version 7 for the others",
            Cpu | Folds),
    });

    static string? StagedWhyNot(ConvShape s, DeviceLimits limits)
    {
        int taps = s.InChannels * s.Kernel * s.Kernel;
        long tiles = (long)s.Batch * KernelIndex.DivUp(s.OutChannels, ConvKernels.StagedChannels);
        if (taps > ConvKernels.StagedMaxTaps) return $"stages at most {ConvKernels.StagedMaxTaps} taps (input channels x K x K); this layer has {taps}";
        if (s.OutWidth * ConvKernels.StagedRows > limits.MaxGroupSize)
            return $"needs groups of Wo x {ConvKernels.StagedRows} = {s.OutWidth * ConvKernels.StagedRows} work-items; this accelerator allows {limits.MaxGroupSize}";
        if (tiles > limits.MaxGridZ) return $"puts batch x output-channel tiles ({tiles}) in grid Z, whose limit here is {limits.MaxGridZ}";
        return null;
    }

    public static string Describe(ConvVersion v) => Versions[v].Description;

    /// <summary>The version shaped for CPUs (a private accumulator array per work-item), which GPUs never run.</summary>
    public static bool CpuShaped(ConvVersion v) => Versions[v].CpuShaped;

    /// <summary>Why version <paramref name="v"/> cannot run the call at shape <paramref name="s"/> on an accelerator with
    /// <paramref name="limits"/>; null when it can.</summary>
    public static string? WhyNot(ConvVersion v, ConvShape s, DeviceLimits limits) => Versions[v].WhyNot(s, limits);

    /// <summary>Versions 1, 2 and 8 read a padded input, versions 1 and 2 an (Out, In, K, K) weight: a call with
    /// padding or a flipped weight writes those out first (a launch each); the others read them in place.</summary>
    public static bool FoldsPad(ConvVersion v) => Versions[v].Traits.HasFlag(VersionTraits.FoldsPad);

    public static bool FoldsFlip(ConvVersion v) => Versions[v].Traits.HasFlag(VersionTraits.FoldsFlip);

    public static KernelCost Cost(ConvCall c) => KernelCost.ValidConv(c.Shape);

    /// <summary>Runs the call with version <paramref name="v"/> (which must be able to run it), including the
    /// padding and flipping launches the version needs.</summary>
    public static void Launch(KernelRunner r, ConvVersion v, ConvCall c, ArrayView<float> input, ArrayView<float> weight,
        ArrayView<float>? bias, ArrayView<float>? mask, ArrayView<float> output)
    {
        var row = Versions[v];
        var s = c.Shape;
        int pad = c.Pad, flipped = c.Flipped ? 1 : 0;
        if (pad > 0 && !FoldsPad(v))
        {
            var padded = r.Scratch(ScratchSlot.PaddedInput, s.InputLength);
            Pad(r, input, s.Batch * s.InChannels, s.InHeight - 2 * pad, s.InWidth - 2 * pad, pad, padded);
            input = padded;
            pad = 0;
        }
        if (flipped != 0 && !FoldsFlip(v))
        {
            var turned = r.Scratch(ScratchSlot.FlippedWeight, s.WeightLength);
            FlipTranspose(r, weight, s.InChannels, s.OutChannels, s.Kernel, turned);
            weight = turned;
            flipped = 0;
        }

        var args = new ConvArgs
        {
            Shape = s, Pad = pad, Flipped = flipped, Taps = s.InChannels * s.Kernel * s.Kernel, Flags = (int)c.Flags,
            Input = input, Weight = weight, Bias = bias ?? r.None, Mask = mask ?? r.None, Output = output,
        };
        var t = r.Begin();
        row.Launch(r, args, row.Work(args));
        r.End(t, new KernelLaunch(Name, row.Name, row.Number, c, Cost(c), 0));
    }

    /// <summary>output (planes, H+2p, W+2p) = input (planes, H, W) with a border of p zeros: a row a work-item where
    /// the runner runs elementwise kernels in runs (CPUs), else an element a work-item (neighbours write neighbours).</summary>
    public static void Pad(KernelRunner r, ArrayView<float> input, int planes, int height, int width, int pad, ArrayView<float> output)
    {
        var t = r.Begin();
        long items = (long)planes * (height + 2 * pad) * (width + 2 * pad);
        if (r.ElementwiseRuns)
        {
            int n = r.Threads((long)planes * (height + 2 * pad));
            r.Stream<int, ArrayView<float>, int, int, int, int, ArrayView<float>>(ConvKernels.PadRows)(n, n, input, planes, height, width, pad, output);
        }
        else
        {
            int n = r.Threads(items);
            r.Stream<int, ArrayView<float>, int, int, int, ArrayView<float>>(ConvKernels.Pad)(n, n, input, height, width, pad, output);
        }
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
