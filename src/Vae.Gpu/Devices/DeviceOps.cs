using ILGPU;
using ILGPU.Runtime;
using Vae.Gpu.Kernels;
using Vae.Gpu.Layers;

namespace Vae.Gpu.Devices;

/// <summary>
/// The kernels of <see cref="Vae.Gpu.Kernels"/> on one accelerator: what layers call. It loads (through
/// <see cref="KernelRunner"/>) and launches; the versioned families (convolution, weight gradient, GEMM) are
/// launched by their own launchers with the version <see cref="ComputeDevice.Versions"/> picks. Their scratch buffers
/// are <see cref="Workspace"/>s, the layers' own mechanism: grown to the largest size asked, then reused.
/// </summary>
public sealed class DeviceOps : KernelRunner, IDisposable
{
    readonly ComputeDevice _device;
    readonly MemoryBuffer1D<float, Stride1D.Dense> _none;
    readonly Workspace[] _scratch;

    internal DeviceOps(ComputeDevice device) : base(device.Accelerator, device.Profile.GroupSize)
    {
        _device = device;
        TimesWithDeviceEvents = Limits.IsGpu && Accelerator.Context.Properties.EnableProfiling;
        _none = Accelerator.Allocate1D<float>(1);
        _scratch = Enum.GetValues<ScratchSlot>().Select(_ => new Workspace(device)).ToArray();
    }

    public override ArrayView<float> None => _none.View;

    bool _strided;

    /// <summary>The profile's <see cref="DeviceProfile.ElementwiseRuns"/>, unless <see cref="UseStridedLoops"/> holds.</summary>
    public override bool ElementwiseRuns => !_strided && _device.Profile.ElementwiseRuns;

    /// <summary>1 where the elementwise kernels run in contiguous runs per work-item, 0 where they stride by the launch.</summary>
    int Chunked => ElementwiseRuns ? 1 : 0;

    /// <summary>Runs the elementwise kernels with a GPU's strided loops (and the GPU versions of the BCE partials,
    /// the linear bias sums and Pad) until disposed, so tests check both forms on any accelerator.</summary>
    public IDisposable UseStridedLoops()
    {
        bool saved = _strided;
        _strided = true;
        return new Restore(() => _strided = saved);
    }

    sealed class Restore(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }

    /// <summary>Length of the partials buffer <see cref="BcePartials"/> fills (the profile's).</summary>
    public int LossPartials => _device.Profile.LossPartials;

    /// <summary>
    /// Threads to launch for <paramref name="work"/> items; the kernels loop over their items with this as
    /// stride. On the CPU accelerator a thread costs about a microsecond to start, so a few hundred threads
    /// per core each take many items; a GPU gets enough to fill every multiprocessor.
    /// </summary>
    public override int Threads(long work) => (int)Math.Max(1, Math.Min(work, _device.Profile.MaxLaunch));

    /// <summary>Threads of an elementwise launch: with <see cref="Chunked"/> runs, the thread target or fewer, so
    /// that each work-item loops over a run long enough to vectorize (<see cref="ElementwiseRun"/>); else as
    /// <see cref="Threads"/>.</summary>
    int ElementwiseThreads(long work) => Chunked != 0 ? (int)Math.Clamp((work + ElementwiseRun - 1) / ElementwiseRun, 1, TargetThreads) : Threads(work);

    /// <summary>The shortest run of an elementwise work-item on CPUs: four 16-lane vectors. With a work-item per few
    /// elements, a sum of a weight gradient's chunks (a few thousand floats) paid more in work-items than in adds.</summary>
    const int ElementwiseRun = 64;

    public override int TargetThreads => _device.Profile.TargetThreads;

    public override int Slices(int baseThreads, int extent, int minPerSlice)
    {
        int wanted = (TargetThreads + baseThreads - 1) / baseThreads;
        return Math.Clamp(Math.Min(wanted, extent / Math.Max(1, minPerSlice)), 1, Math.Max(1, extent));
    }

    public override ArrayView<float> Scratch(ScratchSlot slot, long length) => _scratch[(int)slot].Get(checked((int)length)).View;

    static KernelLaunch Single(string family, string kernel, KernelCost cost) => new(family, kernel, 0, null, cost, 0);

    // ---- the versioned families ---------------------------------------------------------------

    /// <summary>output (B, O, Ho, Wo) = epilogue(valid cross-correlation of input (B, I, H, W) with weight (O, I, K, K)).</summary>
    public void ValidConv(ConvShape s, ArrayView<float> input, ArrayView<float> weight, ArrayView<float>? bias,
        ArrayView<float>? mask, EpilogueFlags flags, ArrayView<float> output) =>
        Conv(new ConvCall(s, 0, false, flags), input, weight, bias, mask, output);

    /// <summary>The convolution <paramref name="c"/> (see <see cref="ConvCall"/>) by the version the device picks for it.</summary>
    public void Conv(ConvCall c, ArrayView<float> input, ArrayView<float> weight, ArrayView<float>? bias,
        ArrayView<float>? mask, ArrayView<float> output) =>
        ConvFamily.Launch(this, _device.Versions.Conv(c), c, input, weight, bias, mask, output);

    /// <summary>dWeight (O, I, K, K) = sum over batch and positions of grad (B, O, Ho, Wo) times input (B, I, H, W) shifted.</summary>
    public void ConvWeightGrad(ConvShape s, ArrayView<float> grad, ArrayView<float> input, ArrayView<float> dWeight) =>
        ConvWeightGrad(new WeightGradCall(s, 0, false), grad, input, dWeight);

    /// <summary>The weight gradient and, after it in <paramref name="dWeightThenBias"/>, the bias gradient: one
    /// launch (and one sum over batch chunks) for a layer's whole parameter gradient.</summary>
    public void ConvWeightGrad(WeightGradCall c, ArrayView<float> grad, ArrayView<float> input, ArrayView<float> dWeightThenBias) =>
        WeightGradFamily.Launch(this, _device.Versions.WeightGrad(c), c, grad, input, dWeightThenBias);

    /// <summary>C (M, N) = epilogue(A B) with the strides of <paramref name="s"/>.</summary>
    public void Gemm(GemmShape s, ArrayView<float> a, ArrayView<float> b, ArrayView<float>? bias,
        ArrayView<float>? mask, EpilogueFlags flags, ArrayView<float> c)
    {
        var call = new GemmCall(s, flags);
        GemmFamily.Launch(this, _device.Versions.Gemm(call), call, a, b, bias, mask, c);
    }

    /// <summary>A linear layer's parameter gradients from its output gradient (batch, Out): dWeight = the product of
    /// <paramref name="weightGrad"/> (A the output gradient transposed, K the batch) and dBias = A's row sums, in the
    /// product's own pass where its version can (<see cref="GemmFamily.SumsRows"/>), else by <see cref="ChannelSum"/>.</summary>
    public void LinearParameterGrads(GemmShape weightGrad, ArrayView<float> outputGrad, ArrayView<float> input, ArrayView<float> dWeight,
        ArrayView<float> dBias)
    {
        var call = new GemmCall(weightGrad, EpilogueFlags.None);
        if (!GemmFamily.Launch(this, _device.Versions.Gemm(call), call, outputGrad, input, null, null, dWeight, dBias))
            ChannelSum(outputGrad, weightGrad.K, weightGrad.M, 1, dBias);
    }

    // ---- reductions ---------------------------------------------------------------------------

    /// <summary>dBias (C) = sum of grad (B, C, plane) over batch and plane.</summary>
    public void ChannelSum(ArrayView<float> grad, int batch, int channels, int plane, ArrayView<float> dBias)
    {
        // A CPU has a few cores, not thousands of lanes: one thread per channel reads the gradient at memory
        // speed, and skipping the chunks saves the launch that sums them.
        int chunks = _device.Profile.ChunkBiasSums ? Slices(channels, batch, 1) : 1;
        if (chunks == 1 && plane == 1 && Chunked != 0)
        {
            var tc = Begin();
            int tiles = Threads(KernelIndex.DivUp(channels, ReductionKernels.ColumnSumLanes));
            Stream<int, ArrayView<float>, int, int, ArrayView<float>>(ReductionKernels.ColumnSums)(tiles, tiles, grad, batch, channels, dBias);
            End(tc, Single("reduction", nameof(ReductionKernels.ColumnSums), KernelCost.Elementwise((long)batch * channels, 1, 1)));
            return;
        }
        var target = chunks == 1 ? dBias : Scratch(ScratchSlot.Partials, (long)chunks * channels);
        var t = Begin();
        int n = Threads(chunks * channels);
        Stream<int, ArrayView<float>, int, int, int, int, ArrayView<float>>(ReductionKernels.ChannelSumPartials)(n, n, grad, batch, channels, plane, chunks, target);
        End(t, Single("reduction", nameof(ReductionKernels.ChannelSumPartials), KernelCost.Elementwise((long)batch * channels * plane, 1, 1)));
        if (chunks > 1) SumPartials(target, chunks, channels, 1, null, null, EpilogueFlags.None, dBias);
    }

    public override void SumPartials(ArrayView<float> partials, int slices, int length, int columns,
        ArrayView<float>? bias, ArrayView<float>? mask, EpilogueFlags flags, ArrayView<float> output)
    {
        var t = Begin();
        int n = ElementwiseThreads(length);
        Stream<int, int, ArrayView<float>, int, int, int, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(ReductionKernels.SumPartials)(
            n, n, Chunked, partials, slices, length, columns, bias ?? None, mask ?? None, (int)flags, output);
        End(t, Single("reduction", nameof(ReductionKernels.SumPartials), KernelCost.Elementwise((long)length * slices, 1, 1)));
    }

    /// <summary>
    /// totals[slot] = sum(<paramref name="partials"/>) + the KL of <paramref name="kind"/> over (mu, sigma), in a
    /// fixed order; empty views leave a term out.
    /// </summary>
    public void FinishLoss(ArrayView<float> partials, ArrayView<float> mu, ArrayView<float> sigma, KlChoice kl, ArrayView<float> totals, int slot)
    {
        // One group of 16 lanes reads a few thousand partials quickly; a GPU's hundreds of thousands are first
        // folded to a fixed count by a full launch (a fixed order again).
        if (partials.Length > ReductionKernels.FoldAbove)
        {
            var folded = Scratch(ScratchSlot.Partials, ReductionKernels.FoldedPartials).SubView(0, ReductionKernels.FoldedPartials);
            var f = Begin();
            Stream<ArrayView<float>, ArrayView<float>>(ReductionKernels.FoldPartials)(ReductionKernels.FoldedPartials, partials, folded);
            End(f, Single("reduction", nameof(ReductionKernels.FoldPartials), KernelCost.Elementwise(partials.Length, 1, 1)));
            partials = folded;
        }
        var t = Begin();
        Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, KlChoice, ArrayView<float>, int>(ReductionKernels.FinishLoss)(
            ReductionKernels.FinishLossConfig, partials, mu, sigma, kl, totals, slot);
        End(t, Single("reduction", nameof(ReductionKernels.FinishLoss), KernelCost.Elementwise(partials.Length + 2 * mu.Length, 4, 1)));
    }

    // ---- losses and latent --------------------------------------------------------------------

    /// <summary>Partial sums of the BCE into <paramref name="partials"/> (length <see cref="LossPartials"/>).</summary>
    public void BcePartials(ArrayView<float> target, ArrayView<float> recon, ArrayView<float> partials)
    {
        var t = Begin();
        var kernel = Chunked != 0
            ? Stream<ArrayView<float>, ArrayView<float>, ArrayView<float>>(LossKernels.BceRunPartials)
            : Stream<ArrayView<float>, ArrayView<float>, ArrayView<float>>(LossKernels.BcePartials);
        kernel((int)partials.Length, target, recon, partials);
        End(t, Single("loss", Chunked != 0 ? nameof(LossKernels.BceRunPartials) : nameof(LossKernels.BcePartials), KernelCost.Elementwise(target.Length, 8, 2)));
    }

    public void BceSigmoidBackward(ArrayView<float> target, ArrayView<float> recon, ArrayView<float> dLogit)
    {
        var t = Begin();
        int n = Threads(target.Length);
        Stream<int, ArrayView<float>, ArrayView<float>, ArrayView<float>>(LossKernels.BceSigmoidBackward)(n, n, target, recon, dLogit);
        End(t, Single("loss", nameof(LossKernels.BceSigmoidBackward), KernelCost.Elementwise(target.Length, 10, 3)));
    }

    /// <summary>mu and sigma = exp(log sigma) (B, lat) from the encoder heads' (B, 2 lat) output.</summary>
    public void SplitHeads(ArrayView<float> heads, int latent, ArrayView<float> mu, ArrayView<float> sigma) =>
        SplitHeads(heads, latent, false, 0, 0, mu, sigma, None, None);

    /// <summary>SplitHeads and, in the same launch, <see cref="Gaussian"/>'s eps and z.</summary>
    public void SplitHeadsAndSample(ArrayView<float> heads, int latent, ulong seed, ulong step,
        ArrayView<float> mu, ArrayView<float> sigma, ArrayView<float> eps, ArrayView<float> z) =>
        SplitHeads(heads, latent, true, seed, step, mu, sigma, eps, z);

    void SplitHeads(ArrayView<float> heads, int latent, bool sample, ulong seed, ulong step,
        ArrayView<float> mu, ArrayView<float> sigma, ArrayView<float> eps, ArrayView<float> z)
    {
        var t = Begin();
        Stream<ArrayView<float>, int, int, ulong, ulong, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(LossKernels.SplitHeads)(
            (int)mu.Length, heads, latent, sample ? 1 : 0, seed, step, mu, sigma, eps, z);
        End(t, Single("latent", sample ? "SplitHeads+Gaussian" : nameof(LossKernels.SplitHeads), KernelCost.Elementwise(mu.Length, sample ? 41 : 1, sample ? 6 : 4)));
    }

    /// <summary>eps = N(0, 1) from (seed, step, index); z = mu + sigma * eps.</summary>
    public void Gaussian(ArrayView<float> mu, ArrayView<float> sigma, ulong seed, ulong step, ArrayView<float> eps, ArrayView<float> z)
    {
        var t = Begin();
        Stream<ArrayView<float>, ArrayView<float>, ulong, ulong, ArrayView<float>, ArrayView<float>>(LossKernels.Gaussian)((int)mu.Length, mu, sigma, seed, step, eps, z);
        End(t, Single("latent", nameof(LossKernels.Gaussian), KernelCost.Elementwise(mu.Length, 40, 4)));
    }

    /// <summary>The gradient of the heads' output (B, 2 lat) from dz through Gaussian, the split's exp and the KL term.</summary>
    public void GaussianBackward(ArrayView<float> dz, ArrayView<float> mu, ArrayView<float> sigma, ArrayView<float> eps,
        KlChoice kl, int latent, ArrayView<float> dHeads)
    {
        var t = Begin();
        Stream<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, KlChoice, int, ArrayView<float>>(LossKernels.GaussianBackward)(
            (int)dz.Length, dz, mu, sigma, eps, kl, latent, dHeads);
        End(t, Single("latent", nameof(LossKernels.GaussianBackward), KernelCost.Elementwise(dz.Length, 10, 6)));
    }

    // ---- importance-weighted evaluation -------------------------------------------------------

    /// <summary>z and eps (rows, lat) of the pairs of chunk <paramref name="b"/> from mu and sigma (images, lat).</summary>
    public void SampleImportance(ImportanceBatch b, ArrayView<float> mu, ArrayView<float> sigma, ulong seed, ArrayView<float> eps, ArrayView<float> z)
    {
        var t = Begin();
        Stream<ImportanceBatch, ArrayView<float>, ArrayView<float>, ulong, ArrayView<float>, ArrayView<float>>(ImportanceKernels.SampleImportance)(
            (int)z.Length, b, mu, sigma, seed, eps, z);
        End(t, Single("evaluation", nameof(ImportanceKernels.SampleImportance), KernelCost.Elementwise(z.Length, 40, 4)));
    }

    /// <summary>log w of each decoded row of chunk <paramref name="b"/> (recon (rows, pixels)) into the group's
    /// <paramref name="logWeight"/>, and sample 0's BCE per image.</summary>
    public void ImportanceLogWeights(ImportanceBatch b, ArrayView<float> images, ArrayView<float> recon, ArrayView<float> z,
        ArrayView<float> eps, ArrayView<float> sigma, ArrayView<float> logWeight, ArrayView<float> firstSampleBce)
    {
        var t = Begin();
        int rows = (int)(recon.Length / b.Pixels);
        Stream<ImportanceBatch, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(
            ImportanceKernels.ImportanceLogWeights)(rows, b, images, recon, z, eps, sigma, logWeight, firstSampleBce);
        End(t, Single("evaluation", nameof(ImportanceKernels.ImportanceLogWeights), KernelCost.Elementwise(recon.Length, 8, 2)));
    }

    /// <summary>bound[firstImage + i] = log mean exp of the <paramref name="samples"/> log weights of image i of the group.</summary>
    public void LogMeanExp(ArrayView<float> logWeight, int samples, int firstImage, ArrayView<float> bound)
    {
        var t = Begin();
        int images = (int)(logWeight.Length / samples);
        Stream<ArrayView<float>, int, int, ArrayView<float>>(ImportanceKernels.LogMeanExp)(images, logWeight, samples, firstImage, bound);
        End(t, Single("evaluation", nameof(ImportanceKernels.LogMeanExp), KernelCost.Elementwise(logWeight.Length, 3, 1)));
    }

    // ---- the peak probe ------------------------------------------------------------------------

    /// <summary>One launch of the FMA peak probe: <paramref name="items"/> work-items of <paramref name="width"/>
    /// lanes (1, 8 or 16), each <see cref="PeakKernels.Chains"/> chains <paramref name="iterations"/> long.</summary>
    public void FmaChains(int width, int items, int iterations, ArrayView<float> output)
    {
        var kernel = width switch
        {
            1 => Stream<int, ArrayView<float>>(PeakKernels.FmaChains1),
            8 => Stream<int, ArrayView<float>>(PeakKernels.FmaChains8),
            16 => Stream<int, ArrayView<float>>(PeakKernels.FmaChains16),
            _ => throw new ArgumentOutOfRangeException(nameof(width), width, "the probe has 1, 8 and 16 lanes"),
        };
        var t = Begin();
        kernel(items, iterations, output);
        End(t, Single("peak", $"FmaChains{width}", new KernelCost(PeakKernels.Flops(items, iterations, width), 4.0 * items)));
    }

    /// <summary>The memory probe: a = b + s c over the whole of a (STREAM's triad), in the profile's elementwise form.</summary>
    public void Triad(float s, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c)
    {
        var t = Begin();
        int n = ElementwiseThreads(a.Length);
        Stream<int, int, float, ArrayView<float>, ArrayView<float>, ArrayView<float>>(PeakKernels.Triad)(n, n, Chunked, s, a, b, c);
        End(t, Single("peak", nameof(PeakKernels.Triad), new KernelCost(2.0 * a.Length, 12.0 * a.Length)));
    }

    // ---- optimizer and data -------------------------------------------------------------------

    public void Adam(AdamStep step, ArrayView<float> param, ArrayView<float> grad, ArrayView<float> m, ArrayView<float> v)
    {
        var t = Begin();
        int n = ElementwiseThreads(param.Length);
        Stream<int, int, AdamStep, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(OptimizerKernels.Adam)(n, n, Chunked, step, param, grad, m, v);
        End(t, Single("optimizer", nameof(OptimizerKernels.Adam), KernelCost.Elementwise(param.Length, 12, 7)));
    }

    public void GatherImages(ArrayView<byte> images, ArrayView<int> order, int first, int count, int pixels, ArrayView<float> output)
    {
        var t = Begin();
        int n = Threads((long)count * pixels);
        Stream<int, ArrayView<byte>, ArrayView<int>, int, int, ArrayView<float>>(DataKernels.GatherImages)(n, n, images, order, first, pixels, output);
        End(t, Single("data", nameof(DataKernels.GatherImages), KernelCost.Elementwise((long)count * pixels, 1, 1.25)));
    }

    public void Dispose()
    {
        _none.Dispose();
        foreach (var workspace in _scratch) workspace.Dispose();
    }
}
