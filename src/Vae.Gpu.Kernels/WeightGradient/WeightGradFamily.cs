using ILGPU;
using ILGPU.Runtime;

namespace Vae.Gpu.Kernels;

/// <summary>The versions of the weight gradient; each member is named after its kernel method in <see cref="WeightGradKernels"/>.</summary>
public enum WeightGradVersion { Tiled = 1, Rows = 2, LaneTiled = 3 }

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

/// <summary>The weight-gradient family: its versions, the rule that says where each cannot run, and the launcher.</summary>
public static class WeightGradFamily
{
    public const string Name = "weight-grad";
    public const WeightGradVersion Fallback = WeightGradVersion.Tiled;

    public static string Describe(WeightGradVersion v) => v switch
    {
        WeightGradVersion.Tiled => "8x4 channel tile per tap and batch chunk",
        WeightGradVersion.Rows => "rows: 4 channels x 3 taps, SIMD over columns, per batch chunk",
        WeightGradVersion.LaneTiled => "lane tile: 4 channels x 3 taps x 8 columns in vector registers, per batch chunk",
        _ => throw new ArgumentOutOfRangeException(nameof(v)),
    };

    /// <summary>The version shaped for CPUs (a private accumulator array per work-item), which GPUs never run.</summary>
    public static bool CpuShaped(WeightGradVersion v) => v is WeightGradVersion.Rows or WeightGradVersion.LaneTiled;

    /// <summary>Why version <paramref name="v"/> cannot run at shape <paramref name="s"/>; null when it can.</summary>
    public static string? WhyNot(WeightGradVersion v, ConvShape s, DeviceLimits limits) => v switch
    {
        _ when limits.IsGpu && CpuShaped(v) => DeviceLimits.CpuShapedReason,
        WeightGradVersion.Rows when s.OutWidth > ConvKernels.RowLanes =>
            $"keeps rows of at most {ConvKernels.RowLanes} columns; this gradient is {s.OutWidth} wide",
        _ => null,
    };

    static int BaseThreads(WeightGradVersion v, ConvShape s, int chunks) => v is WeightGradVersion.Rows or WeightGradVersion.LaneTiled
        ? WeightGradKernels.RowsThreads(s, chunks) : WeightGradKernels.TiledThreads(s, chunks);

    /// <summary>Runs the call with version <paramref name="v"/>: one launch over batch chunks sized to fill the
    /// accelerator, then (with more than one chunk) one fixed-order sum of the chunks.</summary>
    public static void Launch(KernelRunner r, WeightGradVersion v, WeightGradCall c, ArrayView<float> grad, ArrayView<float> input,
        ArrayView<float> dWeightThenBias)
    {
        var s = c.Shape;
        if (dWeightThenBias.Length != c.Length)
            throw new ArgumentException($"the gradient of {c} has {c.Length} values, not {dWeightThenBias.Length}");
        int chunks = r.Slices(BaseThreads(v, s, 1), s.Batch, 1);
        var target = chunks == 1 ? dWeightThenBias : r.Scratch(ScratchSlot.Partials, (long)chunks * c.Length);
        var biasSource = c.BiasChannels == 0 ? r.None : c.BiasFromInput ? input : grad;
        var t = r.Begin();
        int n = r.Threads(Math.Max(BaseThreads(v, s, chunks), chunks * c.BiasChannels));
        var kernel = v switch
        {
            WeightGradVersion.Tiled => r.Stream<int, ConvShape, ArrayView<float>, ArrayView<float>, int, ArrayView<float>, int, int, ArrayView<float>>(WeightGradKernels.Tiled),
            WeightGradVersion.Rows => r.Stream<int, ConvShape, ArrayView<float>, ArrayView<float>, int, ArrayView<float>, int, int, ArrayView<float>>(WeightGradKernels.Rows),
            WeightGradVersion.LaneTiled => r.Stream<int, ConvShape, ArrayView<float>, ArrayView<float>, int, ArrayView<float>, int, int, ArrayView<float>>(WeightGradKernels.LaneTiled),
            _ => throw new ArgumentOutOfRangeException(nameof(v)),
        };
        kernel(n, n, s, grad, input, chunks, biasSource, c.BiasChannels, c.BiasPlane, target);
        r.End(t, new KernelLaunch(Name, v.ToString(), (int)v, c, KernelCost.WeightGrad(s, chunks), 0));
        if (chunks > 1) r.SumPartials(target, chunks, c.Length, 1, null, null, EpilogueFlags.None, dWeightThenBias);
    }
}
