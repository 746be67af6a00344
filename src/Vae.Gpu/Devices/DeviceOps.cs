using ILGPU;
using ILGPU.Runtime;
using Vae.Gpu.Kernels;

namespace Vae.Gpu.Devices;

/// <summary>One timed launch, as the profiler reports it.</summary>
public sealed record KernelLaunch(string Name, double Seconds, KernelCost Cost);

/// <summary>Which GEMM kernel the linear layers use; the benchmark times both.</summary>
public enum GemmVersion { RegisterTiled = 1, SharedTiled = 2 }

/// <summary>
/// The kernels of <see cref="Vae.Gpu.Kernels"/> loaded on one accelerator, each behind a method that works
/// out its launch shape. Loading compiles, so each kernel is compiled once, on first use. Everything is
/// queued on the accelerator's default stream, so scratch buffers can be reused from one call to the next.
/// </summary>
public sealed class DeviceOps : IDisposable
{
    public const int LossPartials = 1024;

    readonly ComputeDevice _device;
    readonly Accelerator _acc;
    readonly MemoryBuffer1D<float, Stride1D.Dense> _none;
    MemoryBuffer1D<float, Stride1D.Dense>? _scratch;

    readonly Lazy<Action<Index1D, int, ConvShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>> _validConv;
    readonly Lazy<Action<Index1D, int, ArrayView<float>, int, int, int, ArrayView<float>>> _pad;
    readonly Lazy<Action<Index1D, int, ArrayView<float>, int, int, int, ArrayView<float>>> _flipTranspose;
    readonly Lazy<Action<Index1D, int, ConvShape, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>> _weightGrad;
    readonly Lazy<Action<Index1D, int, ArrayView<float>, int, int, int, int, ArrayView<float>>> _channelSum;
    readonly Lazy<Action<Index1D, int, ArrayView<float>, int, int, int, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>> _sumPartials;
    readonly Lazy<Action<Index1D, int, GemmShape, ArrayView<float>, ArrayView<float>, int, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>> _gemmRegister;
    readonly Lazy<Action<KernelConfig, GemmShape, ArrayView<float>, ArrayView<float>, int, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>> _gemmShared;
    readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>> _bcePartials;
    readonly Lazy<Action<Index1D, int, ArrayView<float>, ArrayView<float>, ArrayView<float>>> _bceSigmoidBackward;
    readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>> _klPartials;
    readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>> _finishLoss;
    readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>>> _exp;
    readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ulong, ulong, ArrayView<float>, ArrayView<float>>> _gaussian;
    readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, ArrayView<float>, ArrayView<float>>> _gaussianBackward;
    readonly Lazy<Action<Index1D, int, AdamStep, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>> _adam;
    readonly Lazy<Action<Index1D, int, ArrayView<byte>, ArrayView<int>, int, int, ArrayView<float>>> _gather;

    public GemmVersion GemmVersion { get; set; }
    readonly int _maxLaunch;

    /// <summary>
    /// When set, every launch waits for the accelerator before and after and reports (kernel, seconds):
    /// the benchmark's profile of a training step. Off in training, where launches queue freely.
    /// </summary>
    public Action<KernelLaunch>? Profiler { get; set; }

    void Timed(string name, Action launch, KernelCost cost = default)
    {
        if (Profiler is null) { launch(); return; }
        _acc.Synchronize();
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        launch();
        _acc.Synchronize();
        Profiler(new KernelLaunch(name, System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds, cost));
    }

    internal DeviceOps(ComputeDevice device)
    {
        _device = device;
        _acc = device.Accelerator;
        _none = _acc.Allocate1D<float>(1);
        _maxLaunch = _acc.AcceleratorType == AcceleratorType.CPU ? 64 * Environment.ProcessorCount : 4 * _acc.MaxNumThreads;
        GemmVersion = _acc.AcceleratorType == AcceleratorType.CPU ? GemmVersion.RegisterTiled : GemmVersion.SharedTiled;
        _validConv = Load<Index1D, int, ConvShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(ConvKernels.ValidConv);
        _pad = Load<Index1D, int, ArrayView<float>, int, int, int, ArrayView<float>>(ConvKernels.Pad);
        _flipTranspose = Load<Index1D, int, ArrayView<float>, int, int, int, ArrayView<float>>(ConvKernels.FlipTranspose);
        _weightGrad = Load<Index1D, int, ConvShape, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(ConvKernels.WeightGradPartials);
        _channelSum = Load<Index1D, int, ArrayView<float>, int, int, int, int, ArrayView<float>>(ConvKernels.ChannelSumPartials);
        _sumPartials = Load<Index1D, int, ArrayView<float>, int, int, int, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(ReductionKernels.SumPartials);
        _gemmRegister = Load<Index1D, int, GemmShape, ArrayView<float>, ArrayView<float>, int, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(GemmKernels.RegisterTiled);
        _gemmShared = new(() => _acc.LoadStreamKernel<GemmShape, ArrayView<float>, ArrayView<float>, int, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(GemmKernels.SharedTiled));
        _bcePartials = Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(LossKernels.BcePartials);
        _bceSigmoidBackward = Load<Index1D, int, ArrayView<float>, ArrayView<float>, ArrayView<float>>(LossKernels.BceSigmoidBackward);
        _klPartials = Load<Index1D, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(LossKernels.KlPartials);
        _finishLoss = Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(ReductionKernels.FinishLoss);
        _exp = new(() => _acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(LossKernels.Exp));
        _gaussian = Load<Index1D, ArrayView<float>, ArrayView<float>, ulong, ulong, ArrayView<float>, ArrayView<float>>(LossKernels.Gaussian);
        _gaussianBackward = Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, ArrayView<float>, ArrayView<float>>(LossKernels.GaussianBackward);
        _adam = Load<Index1D, int, AdamStep, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(OptimizerKernels.Adam);
        _gather = Load<Index1D, int, ArrayView<byte>, ArrayView<int>, int, int, ArrayView<float>>(DataKernels.GatherImages);
    }

    Lazy<Action<T1, T2, T3, T4>> Load<T1, T2, T3, T4>(Action<T1, T2, T3, T4> kernel)
        where T1 : struct, IIndex where T2 : struct where T3 : struct where T4 : struct =>
        new(() => _acc.LoadAutoGroupedStreamKernel(kernel));
    Lazy<Action<T1, T2, T3, T4, T5>> Load<T1, T2, T3, T4, T5>(Action<T1, T2, T3, T4, T5> kernel)
        where T1 : struct, IIndex where T2 : struct where T3 : struct where T4 : struct where T5 : struct =>
        new(() => _acc.LoadAutoGroupedStreamKernel(kernel));
    Lazy<Action<T1, T2, T3, T4, T5, T6>> Load<T1, T2, T3, T4, T5, T6>(Action<T1, T2, T3, T4, T5, T6> kernel)
        where T1 : struct, IIndex where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct =>
        new(() => _acc.LoadAutoGroupedStreamKernel(kernel));
    Lazy<Action<T1, T2, T3, T4, T5, T6, T7>> Load<T1, T2, T3, T4, T5, T6, T7>(Action<T1, T2, T3, T4, T5, T6, T7> kernel)
        where T1 : struct, IIndex where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct =>
        new(() => _acc.LoadAutoGroupedStreamKernel(kernel));
    Lazy<Action<T1, T2, T3, T4, T5, T6, T7, T8>> Load<T1, T2, T3, T4, T5, T6, T7, T8>(Action<T1, T2, T3, T4, T5, T6, T7, T8> kernel)
        where T1 : struct, IIndex where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct =>
        new(() => _acc.LoadAutoGroupedStreamKernel(kernel));
    Lazy<Action<T1, T2, T3, T4, T5, T6, T7, T8, T9>> Load<T1, T2, T3, T4, T5, T6, T7, T8, T9>(Action<T1, T2, T3, T4, T5, T6, T7, T8, T9> kernel)
        where T1 : struct, IIndex where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct where T9 : struct =>
        new(() => _acc.LoadAutoGroupedStreamKernel(kernel));

    Lazy<Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10>> Load<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10>(Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10> kernel)
        where T1 : struct, IIndex where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct where T9 : struct where T10 : struct =>
        new(() => _acc.LoadAutoGroupedStreamKernel(kernel));
    Lazy<Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11>> Load<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11>(Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11> kernel)
        where T1 : struct, IIndex where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct where T9 : struct where T10 : struct where T11 : struct =>
        new(() => _acc.LoadAutoGroupedStreamKernel(kernel));

    ArrayView<float> None => _none.View;

    /// <summary>
    /// Threads to launch for <paramref name="work"/> items. Kernels loop over their items with this stride:
    /// on the CPU accelerator a thread costs about a microsecond to start, so a few hundred threads per core
    /// each take many items; a GPU gets enough to fill every multiprocessor.
    /// </summary>
    int Threads(long work) => (int)Math.Max(1, Math.Min(work, _maxLaunch));
    int Stride(long work) => Threads(work);

    /// <summary>A reusable device buffer of at least <paramref name="length"/> floats for partial sums.</summary>
    ArrayView<float> Scratch(long length)
    {
        if (_scratch is null || _scratch.Length < length)
        {
            if (_scratch is not null) { _device.Released(_scratch.LengthInBytes); _scratch.Dispose(); }
            _scratch = _device.Allocate<float>(Math.Max(length, 1 << 16));
        }
        return _scratch.View.SubView(0, length);
    }

    /// <summary>How many slices to split a reduction of <paramref name="extent"/> into so that
    /// <paramref name="baseThreads"/> threads per slice fill the accelerator.</summary>
    int Slices(int baseThreads, int extent, int minPerSlice)
    {
        int wanted = (_device.TargetThreads + baseThreads - 1) / baseThreads;
        return Math.Clamp(Math.Min(wanted, extent / Math.Max(1, minPerSlice)), 1, Math.Max(1, extent));
    }

    // ---- convolutions -------------------------------------------------------------------------

    /// <summary>output (B, O, Ho, Wo) = epilogue(valid cross-correlation of input (B, I, H, W) with weight (O, I, K, K)).</summary>
    public void ValidConv(ConvShape s, ArrayView<float> input, ArrayView<float> weight, ArrayView<float>? bias,
        ArrayView<float>? mask, EpilogueFlags flags, ArrayView<float> output) =>
        Timed(Profiler is null ? "" : $"validConv {s}", () => _validConv.Value(Threads(ConvKernels.ValidConvThreads(s)), Stride(ConvKernels.ValidConvThreads(s)), s, input, weight, bias ?? None, mask ?? None, (int)flags, output), KernelCost.ValidConv(s));

    /// <summary>output (planes, H+2p, W+2p) = input (planes, H, W) with a border of p zeros.</summary>
    public void Pad(ArrayView<float> input, int planes, int height, int width, int pad, ArrayView<float> output) =>
        Timed("pad", () => _pad.Value(Threads(planes * (height + 2 * pad) * (width + 2 * pad)), Stride(planes * (height + 2 * pad) * (width + 2 * pad)), input, height, width, pad, output), KernelCost.Elementwise(planes * (height + 2 * pad) * (width + 2 * pad), 0, 2));

    /// <summary>output (Q, P, K, K) = weight (P, Q, K, K) transposed in its first two axes and rotated 180 degrees.</summary>
    public void FlipTranspose(ArrayView<float> weight, int p, int q, int k, ArrayView<float> output) =>
        Timed("flipTranspose", () => _flipTranspose.Value(Threads(p * q * k * k), Stride(p * q * k * k), weight, p, q, k, output), KernelCost.Elementwise(p * q * k * k, 0, 2));

    /// <summary>dWeight (O, I, K, K) = sum over batch and positions of grad (B, O, Ho, Wo) times input (B, I, H, W) shifted.</summary>
    public void ConvWeightGrad(ConvShape s, ArrayView<float> grad, ArrayView<float> input, ArrayView<float> dWeight)
    {
        int chunks = Slices(ConvKernels.WeightGradThreads(s, 1), s.Batch, 1);
        var target = chunks == 1 ? dWeight : Scratch((long)chunks * s.WeightLength);
        Timed(Profiler is null ? "" : $"weightGrad {s} x{chunks}", () => _weightGrad.Value(Threads(ConvKernels.WeightGradThreads(s, chunks)), Stride(ConvKernels.WeightGradThreads(s, chunks)), s, grad, input, chunks, target), KernelCost.WeightGrad(s, chunks));
        if (chunks > 1) SumPartials(target, chunks, s.WeightLength, 1, null, null, EpilogueFlags.None, dWeight);
    }

    /// <summary>dBias (C) = sum of grad (B, C, plane) over batch and plane.</summary>
    public void ChannelSum(ArrayView<float> grad, int batch, int channels, int plane, ArrayView<float> dBias)
    {
        int chunks = Slices(channels, batch, 1);
        var target = chunks == 1 ? dBias : Scratch((long)chunks * channels);
        Timed("channelSum", () => _channelSum.Value(Threads(chunks * channels), Stride(chunks * channels), grad, batch, channels, plane, chunks, target), KernelCost.Elementwise((long)batch * channels * plane, 1, 1));
        if (chunks > 1) SumPartials(target, chunks, channels, 1, null, null, EpilogueFlags.None, dBias);
    }

    public void SumPartials(ArrayView<float> partials, int slices, int length, int columns,
        ArrayView<float>? bias, ArrayView<float>? mask, EpilogueFlags flags, ArrayView<float> output) =>
        Timed("sumPartials", () => _sumPartials.Value(Threads(length), Stride(length), partials, slices, length, columns, bias ?? None, mask ?? None, (int)flags, output), KernelCost.Elementwise((long)length * slices, 1, 1));

    // ---- matrix products ----------------------------------------------------------------------

    /// <summary>C (M, N) = epilogue(A B) with the strides of <paramref name="s"/>, by <see cref="GemmVersion"/>.</summary>
    public void Gemm(GemmShape s, ArrayView<float> a, ArrayView<float> b, ArrayView<float>? bias,
        ArrayView<float>? mask, EpilogueFlags flags, ArrayView<float> c, GemmVersion? version = null)
    {
        var v = version ?? GemmVersion;
        int baseThreads = v == GemmVersion.RegisterTiled ? GemmKernels.RegisterTiledThreads(s, 1) : s.M * s.N;
        int splits = Slices(baseThreads, s.K, 64);
        var target = splits == 1 ? c : Scratch((long)splits * s.M * s.N);
        if (v == GemmVersion.RegisterTiled)
            Timed(Profiler is null ? "" : $"gemmRegister {s} split{splits}", () => _gemmRegister.Value(Threads(GemmKernels.RegisterTiledThreads(s, splits)), Stride(GemmKernels.RegisterTiledThreads(s, splits)), s, a, b, splits, bias ?? None, mask ?? None, (int)flags, target), KernelCost.Gemm(s, splits));
        else
            Timed(Profiler is null ? "" : $"gemmShared {s} split{splits}", () => _gemmShared.Value(GemmKernels.SharedTiledConfig(s, splits), s, a, b, splits, bias ?? None, mask ?? None, (int)flags, target), KernelCost.Gemm(s, splits));
        if (splits > 1) SumPartials(target, splits, s.M * s.N, s.N, bias, mask, flags, c);
    }

    // ---- loss, latent, optimizer, data --------------------------------------------------------

    /// <summary>Partial sums of the BCE into <paramref name="partials"/> (length <see cref="LossPartials"/>).</summary>
    public void BcePartials(ArrayView<float> target, ArrayView<float> recon, ArrayView<float> partials) =>
        Timed("bcePartials", () => _bcePartials.Value((int)partials.Length, target, recon, partials), KernelCost.Elementwise(target.Length, 8, 2));

    public void BceSigmoidBackward(ArrayView<float> target, ArrayView<float> recon, ArrayView<float> dLogit) =>
        Timed("bceSigmoidBackward", () => _bceSigmoidBackward.Value(Threads((int)target.Length), Stride((int)target.Length), target, recon, dLogit), KernelCost.Elementwise(target.Length, 10, 3));

    public void KlPartials(ArrayView<float> mu, ArrayView<float> sigma, KlKind kind, ArrayView<float> partials) =>
        Timed("klPartials", () => _klPartials.Value((int)partials.Length, mu, sigma, (int)kind, partials), KernelCost.Elementwise(mu.Length, 8, 2));

    /// <summary>totals[slot] = sum(partialsA) + sum(partialsB), in a fixed order.</summary>
    public void FinishLoss(ArrayView<float> partialsA, ArrayView<float> partialsB, ArrayView<float> totals, int slot) =>
        Timed("finishLoss", () => _finishLoss.Value(1, partialsA, partialsB, totals, slot));

    public void Exp(ArrayView<float> logSigma, ArrayView<float> sigma) => Timed("exp", () => _exp.Value((int)logSigma.Length, logSigma, sigma), KernelCost.Elementwise(logSigma.Length, 1, 2));

    /// <summary>eps = N(0, 1) from (seed, step, index); z = mu + sigma * eps.</summary>
    public void Gaussian(ArrayView<float> mu, ArrayView<float> sigma, ulong seed, ulong step, ArrayView<float> eps, ArrayView<float> z) =>
        Timed("gaussian", () => _gaussian.Value((int)mu.Length, mu, sigma, seed, step, eps, z), KernelCost.Elementwise(mu.Length, 40, 4));

    /// <summary>dMu and dLogSigma from dz through Gaussian, Exp and the KL term.</summary>
    public void GaussianBackward(ArrayView<float> dz, ArrayView<float> mu, ArrayView<float> sigma, ArrayView<float> eps,
        KlKind kind, ArrayView<float> dMu, ArrayView<float> dLogSigma) =>
        Timed("gaussianBackward", () => _gaussianBackward.Value((int)dz.Length, dz, mu, sigma, eps, (int)kind, dMu, dLogSigma), KernelCost.Elementwise(dz.Length, 10, 6));

    public void Adam(AdamStep step, ArrayView<float> param, ArrayView<float> grad, ArrayView<float> m, ArrayView<float> v) =>
        Timed("adam", () => _adam.Value(Threads((int)param.Length), Stride((int)param.Length), step, param, grad, m, v), KernelCost.Elementwise(param.Length, 12, 7));

    public void GatherImages(ArrayView<byte> images, ArrayView<int> order, int first, int count, int pixels, ArrayView<float> output) =>
        Timed("gather", () => _gather.Value(Threads(count * pixels), Stride(count * pixels), images, order, first, pixels, output), KernelCost.Elementwise((long)count * pixels, 1, 1.25));

    public void Dispose()
    {
        _none.Dispose();
        _scratch?.Dispose();
    }
}
