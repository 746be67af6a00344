using ILGPU;
using ILGPU.Runtime;

namespace Vae.Gpu.Kernels;

/// <summary>The versions of the weight gradient; each member is named after its kernel method in <see cref="WeightGradKernels"/>.</summary>
public enum WeightGradVersion { Tiled = 1, Rows = 2, LaneTiled = 3, WideTiled = 4 }

/// <summary>
/// One weight gradient as a layer asks for it: dWeight (Out, In, K, K) of a valid convolution of
/// <see cref="Shape"/> from the gradient side (B, Out, Ho, Wo) and the input side (B, In, H, W), followed by the
/// bias gradient: per-channel sums of the gradient side (a convolution) or, when <see cref="BiasFromInput"/>,
/// of the input side (a transposed convolution, whose sides are swapped); <see cref="BiasChannels"/> 0 = no bias.
/// </summary>
public readonly record struct WeightGradCall(ConvShape Shape, int BiasChannels, bool BiasFromInput)
{
    public int BiasPlane => BiasFromInput ? Shape.InHeight * Shape.InWidth : Shape.OutHeight * Shape.OutWidth;
    public int Length => Shape.WeightLength + BiasChannels;

    public override string ToString() =>
        $"{Shape}{(BiasChannels > 0 ? BiasFromInput ? " +bias of input" : " +bias" : "")}";
}

/// <summary>
/// The arguments of every weight-gradient version: the convolution's shape, its gradient side and input side,
/// the batch chunks to sum separately, and where the bias gradient's sums come from (<see cref="BiasChannels"/> 0:
/// no bias); the partials hold a chunk's weight then bias gradient after another. <see cref="BiasInTurns"/> 1: versions 3
/// and 4 sum a gradient-side bias within their turns (<see cref="WeightGradFamily.SumsBiasInTurns"/>).
/// </summary>
public struct WeightGradArgs
{
    public ConvShape Shape;
    public int Chunks, BiasChannels, BiasPlane, BiasInTurns;
    public ArrayView<float> Grad, Input, BiasSource, Partials;
}

/// <summary>The weight-gradient family: its versions, one row each, and the launcher.</summary>
public static class WeightGradFamily
{
    public const string Name = "weight-grad";
    public const WeightGradVersion Fallback = WeightGradVersion.Tiled;

    /// <summary>Images a batch chunk sums where the launch can spare the chunks (<see cref="Launch"/>): each chunk
    /// costs its work-items' 16-lane sums and partials (8 % of the samples of the default model's 16->32 gradients
    /// at 4 images a chunk).</summary>
    public const int LongChunkImages = 8;

    const VersionTraits Cpu = VersionTraits.CpuShaped;

    static VersionRow<WeightGradVersion, ConvShape, WeightGradArgs> Stream(WeightGradVersion v, Action<Index1D, int, WeightGradArgs> kernel,
        Func<ConvShape, int, int> threads, string description, VersionTraits traits = VersionTraits.None, Func<ConvShape, DeviceLimits, string?>? rule = null) =>
        VersionRow<WeightGradVersion, ConvShape, WeightGradArgs>.Stream(Name, v, kernel, a => threads(a.Shape, a.Chunks), description, traits, rule);

    /// <summary>Every version, one row each: kernel, launch sizing (threads for a shape and chunk count), description, traits and rule.</summary>
    public static readonly VersionTable<WeightGradVersion, ConvShape, WeightGradArgs> Versions = new(Name, new[]
    {
        Stream(WeightGradVersion.Tiled, WeightGradKernels.Tiled, WeightGradKernels.TiledThreads, "8x4 channel tile per tap and batch chunk"),
        Stream(WeightGradVersion.Rows, WeightGradKernels.Rows, WeightGradKernels.RowsThreads, "rows: 4 channels x 3 taps, SIMD over columns, per batch chunk", Cpu,
            (s, _) => s.OutWidth > ConvKernels.RowLanes ? $"keeps rows of at most {ConvKernels.RowLanes} columns; this gradient is {s.OutWidth} wide" : null),
        Stream(WeightGradVersion.LaneTiled, WeightGradKernels.LaneTiled, WeightGradKernels.LaneTiledThreads,
            "lane tile: 4 channels x 3 taps x 8 columns in vector registers, per batch chunk", Cpu),
        Stream(WeightGradVersion.WideTiled, WeightGradKernels.WideTiled, WeightGradKernels.WideTiledThreads,
            "wide lane tile: 8 channels x 3 taps x 16 columns (24 512-bit registers of accumulators), per batch chunk", Cpu),
    });

    public static string Describe(WeightGradVersion v) => Versions[v].Description;

    /// <summary>Whether version <paramref name="v"/> sums the call's bias within its turns, from the gradient planes
    /// its tiles have just read (versions 3 and 4, a bias of the gradient side), rather than in a pass of its own
    /// at the launch's end.</summary>
    public static bool SumsBiasInTurns(WeightGradVersion v, WeightGradCall c) =>
        c.BiasChannels > 0 && !c.BiasFromInput && v is WeightGradVersion.LaneTiled or WeightGradVersion.WideTiled;

    /// <summary>The version shaped for CPUs (a private accumulator array per work-item), which GPUs never run.</summary>
    public static bool CpuShaped(WeightGradVersion v) => Versions[v].CpuShaped;

    /// <summary>Why version <paramref name="v"/> cannot run at shape <paramref name="s"/>; null when it can.</summary>
    public static string? WhyNot(WeightGradVersion v, ConvShape s, DeviceLimits limits) => Versions[v].WhyNot(s, limits);

    /// <summary>Runs the call with version <paramref name="v"/>: one launch over batch chunks sized to fill the
    /// accelerator (of <see cref="LongChunkImages"/> images where that keeps half as many threads), then (with more
    /// than one chunk) one fixed-order sum of the chunks.</summary>
    public static void Launch(KernelRunner r, WeightGradVersion v, WeightGradCall c, ArrayView<float> grad, ArrayView<float> input,
        ArrayView<float> dWeightThenBias)
    {
        var row = Versions[v];
        var s = c.Shape;
        if (dWeightThenBias.Length != c.Length)
            throw new ArgumentException($"the gradient of {c} has {c.Length} values, not {dWeightThenBias.Length}");
        var args = new WeightGradArgs
        {
            Shape = s, Chunks = 1, BiasChannels = c.BiasChannels, BiasPlane = c.BiasPlane,
            Grad = grad, Input = input, BiasSource = c.BiasChannels == 0 ? r.None : c.BiasFromInput ? input : grad,
        };
        // Chunks of LongChunkImages where the launch keeps half the threads that fill the accelerator; else as
        // many chunks as fill it (fewer work-items than that left cores idle: a launch of one group of 64 ran on
        // one core, and the notebook's 64-channel gradients ran slower at half their chunks).
        int work = (int)row.Work(args);
        int chunks = r.Slices(work, s.Batch, LongChunkImages);
        if ((long)work * chunks * 2 < r.TargetThreads) chunks = r.Slices(work, s.Batch, 1);
        args.Chunks = chunks;
        args.BiasInTurns = SumsBiasInTurns(v, c) ? 1 : 0;
        args.Partials = chunks == 1 ? dWeightThenBias : r.Scratch(ScratchSlot.Partials, (long)chunks * c.Length);
        var t = r.Begin();
        // The bias sums run in the same launch: enough work-items for every chunk's channels too, unless the turns sum them.
        row.Launch(r, args, args.BiasInTurns != 0 ? row.Work(args) : Math.Max(row.Work(args), (long)chunks * c.BiasChannels));
        r.End(t, new KernelLaunch(Name, row.Name, row.Number, c, KernelCost.WeightGrad(s, chunks), 0));
        if (chunks > 1) r.SumPartials(args.Partials, chunks, c.Length, 1, null, null, EpilogueFlags.None, dWeightThenBias);
    }
}
