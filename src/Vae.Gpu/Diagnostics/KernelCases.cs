using Vae.Gpu.Devices;
using Vae.Gpu.Kernels;
using Vae.Gpu.Model;
using Vae.Gpu.Optim;
using Vae.Gpu.Tensors;

namespace Vae.Gpu.Diagnostics;

/// <summary>
/// The one list of cases of the versioned families: odd shapes that fit no tile (every call a convolution or
/// linear layer makes, with its padding, flipped weight, fused bias and activation, mask or accumulation), and
/// the calls of a training step exactly as the model makes them (recorded from a profiled step).
/// </summary>
public static class KernelCases
{
    /// <summary>(batch, in, out, height, width, kernel) of the odd convolution layers; width 37 is past the
    /// 32 columns of conv v4 and weight-gradient v2, so their rule says no and the fallback is tested. Then the
    /// notebook's kind: an RGB first layer on 48x48 images, and a 64-channel layer. The next has 8 and 16
    /// channels and rows of 17-23 columns, so every one of its calls runs conv v8's runs (which cross rows,
    /// and whose last run overlaps the one before it) with each epilogue, and its unpadded ones conv v9's (both
    /// vectors of a run crossing a row's end, an overlapping last run, and accumulation). The last gives v9 a
    /// channel tile of 4 channels (12 = 8 + 4) on rows of 20.</summary>
    static readonly int[][] ConvLayers =
    {
        new[] { 3, 5, 7, 11, 13, 3 }, new[] { 2, 1, 6, 9, 7, 4 }, new[] { 5, 6, 1, 8, 10, 1 }, new[] { 4, 3, 9, 14, 12, 5 }, new[] { 2, 2, 3, 5, 37, 3 },
        new[] { 2, 3, 4, 48, 48, 3 }, new[] { 1, 64, 64, 12, 12, 3 }, new[] { 2, 8, 16, 20, 19, 3 }, new[] { 2, 8, 12, 7, 22, 3 },
    };

    /// <summary>(batch, in, out) of the odd linear layers: tiny, past one tile, long K and wide N.</summary>
    static readonly int[][] LinearLayers = { new[] { 5, 37, 11 }, new[] { 17, 333, 15 }, new[] { 6, 3000, 7 }, new[] { 9, 5, 2000 } };

    /// <summary>The odd-shape cases of every family.</summary>
    public static IReadOnlyList<KernelCase> Odd() => ConvLayers.SelectMany(ConvLayerCalls).Concat(LinearLayers.SelectMany(LinearLayerCalls)).ToList();

    /// <summary>The calls a Conv2d and a ConvTranspose2d of that size make, forward and backward.</summary>
    static IEnumerable<KernelCase> ConvLayerCalls(int[] l)
    {
        int b = l[0], ci = l[1], co = l[2], h = l[3], w = l[4], k = l[5], p = k - 1;
        var conv = new ConvShape(b, ci, co, h, w, k);
        yield return new ConvCase(new ConvCall(conv, 0, false, EpilogueFlags.Bias | EpilogueFlags.Relu));
        yield return new ConvCase(new ConvCall(new ConvShape(b, co, ci, conv.OutHeight + 2 * p, conv.OutWidth + 2 * p, k), p, true, EpilogueFlags.MaskPositive));
        yield return new WeightGradCase(new WeightGradCall(conv, co, BiasFromInput: false));
        yield return new ConvCase(new ConvCall(new ConvShape(b, ci, co, h + 2 * p, w + 2 * p, k), p, true, EpilogueFlags.Bias | EpilogueFlags.Sigmoid));
        var swapped = new ConvShape(b, co, ci, h + p, w + p, k);
        yield return new ConvCase(new ConvCall(swapped, 0, false, EpilogueFlags.Accumulate));
        yield return new WeightGradCase(new WeightGradCall(swapped, co, BiasFromInput: true));
    }

    /// <summary>The three products of a Linear layer: forward, weight gradient, input gradient.</summary>
    static IEnumerable<KernelCase> LinearLayerCalls(int[] l)
    {
        int b = l[0], inF = l[1], outF = l[2];
        yield return new GemmCase(new GemmCall(new GemmShape(b, outF, inF, inF, 1, 1, inF), EpilogueFlags.Bias | EpilogueFlags.Relu));
        yield return new GemmCase(new GemmCall(new GemmShape(outF, inF, b, 1, outF, inF, 1), EpilogueFlags.None));
        yield return new GemmCase(new GemmCall(new GemmShape(b, inF, outF, outF, 1, inF, 1), EpilogueFlags.Accumulate | EpilogueFlags.MaskPositive));
    }

    /// <summary>The versioned calls among recorded launches, each once, in the order first made.</summary>
    public static IReadOnlyList<KernelCase> From(IEnumerable<KernelLaunch> launches) =>
        launches.Select(l => l.Call).Where(c => c is not null).Distinct().Select(c => c switch
        {
            ConvCall conv => (KernelCase)new ConvCase(conv),
            WeightGradCall wg => new WeightGradCase(wg),
            GemmCall gemm => new GemmCase(gemm),
            _ => throw new InvalidOperationException($"no case for {c!.GetType().Name}"),
        }).ToList();

    /// <summary>The launches of one training step (forward, backward, Adam) of <paramref name="config"/> at
    /// <paramref name="batch"/>, in order, recorded with the profiler (each launch waits for the one before).</summary>
    public static List<KernelLaunch> RecordStep(ComputeDevice device, VaeConfig config, int batch)
    {
        using var step = new TrainingStep(device, config, batch);
        var launches = new List<KernelLaunch>();
        device.Ops.Profiler = launches.Add;
        try { step.Run(); }
        finally { device.Ops.Profiler = null; }
        return launches;
    }

    /// <summary>The versioned calls of one training step of <paramref name="config"/> at <paramref name="batch"/>.</summary>
    public static IReadOnlyList<KernelCase> Step(ComputeDevice device, VaeConfig config, int batch) => From(RecordStep(device, config, batch));
}
