using System.Diagnostics;
using ILGPU;
using ILGPU.Runtime;
using Vae.Gpu.Kernels;

namespace Vae.Gpu.Devices;

/// <summary>One timed launch, as the profiler reports it; Shape is the kernel's ConvShape or GemmShape where it has one.</summary>
public sealed record KernelLaunch(string Name, double Seconds, KernelCost Cost, object? Shape = null);

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
    MemoryBuffer1D<float, Stride1D.Dense>? _scratch, _padded, _flipped;

    readonly Lazy<Action<Index1D, int, ConvShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>> _validConv;
    readonly Lazy<Action<Index1D, int, ConvShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>> _validConvCoalesced;
    readonly Lazy<Action<KernelConfig, ConvShape, int, int, int, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>> _validConvStaged;
    readonly Lazy<Action<Index1D, int, ConvShape, int, int, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>> _validConvRows;
    readonly Lazy<Action<Index1D, int, ArrayView<float>, int, int, int, ArrayView<float>>> _pad;
    readonly Lazy<Action<Index1D, int, ArrayView<float>, int, int, int, ArrayView<float>>> _flipTranspose;
    readonly Lazy<Action<Index1D, int, ConvShape, ArrayView<float>, ArrayView<float>, int, ArrayView<float>, int, int, ArrayView<float>>> _weightGrad, _weightGradRows;
    readonly Lazy<Action<Index1D, int, ArrayView<float>, int, int, int, int, ArrayView<float>>> _channelSum;
    readonly Lazy<Action<Index1D, int, ArrayView<float>, int, int, int, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>> _sumPartials;
    readonly Lazy<Action<Index1D, int, GemmShape, ArrayView<float>, ArrayView<float>, int, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>> _gemmRegister, _gemmRows;
    readonly Lazy<Action<KernelConfig, GemmShape, ArrayView<float>, ArrayView<float>, int, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>> _gemmShared;
    readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>> _bcePartials;
    readonly Lazy<Action<Index1D, int, ArrayView<float>, ArrayView<float>, ArrayView<float>>> _bceSigmoidBackward;
    readonly Lazy<Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, ArrayView<float>, int>> _finishLoss;
    readonly Lazy<Action<Index1D, ArrayView<float>, int, int, ulong, ulong, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>> _splitHeads;
    readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ulong, ulong, ArrayView<float>, ArrayView<float>>> _gaussian;
    readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, ArrayView<float>>> _gaussianBackward;
    readonly Lazy<Action<Index1D, int, AdamStep, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>> _adam;
    readonly Lazy<Action<Index1D, int, ArrayView<byte>, ArrayView<int>, int, int, ArrayView<float>>> _gather;

    /// <summary>Forces one version of each kernel family (tests, <c>check</c>, the kernel lab); null = the profile's choice.</summary>
    public GemmVersion? GemmOverride { get; set; }
    public ConvVersion? ConvOverride { get; set; }
    public WeightGradVersion? WeightGradOverride { get; set; }
    readonly int _maxLaunch, _groupSize;

    /// <summary>
    /// When set, every launch waits for the accelerator before and after and reports its time, FLOP and
    /// byte counts: the benchmark's profile of a training step. Off in training, where launches queue freely.
    /// </summary>
    public Action<KernelLaunch>? Profiler { get; set; }

    /// <summary>Before a launch: 0 when not profiling, else waits for the device and returns the start time.</summary>
    long Begin()
    {
        if (Profiler is null) return 0;
        _acc.Synchronize();
        return Stopwatch.GetTimestamp();
    }

    /// <summary>After a launch that <see cref="Begin"/> timed: waits for it and reports it.</summary>
    void End(long start, string name, KernelCost cost, object? shape = null)
    {
        _acc.Synchronize();
        Profiler!(new KernelLaunch(name, Stopwatch.GetElapsedTime(start).TotalSeconds, cost, shape));
    }

    internal DeviceOps(ComputeDevice device)
    {
        _device = device;
        _acc = device.Accelerator;
        _none = _acc.Allocate1D<float>(1);
        _maxLaunch = device.Profile.MaxLaunch;
        _groupSize = device.Profile.GroupSize;
        _validConv = Load<Index1D, int, ConvShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(ConvKernels.ValidConv);
        _validConvCoalesced = Load<Index1D, int, ConvShape, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(ConvKernels.ValidConvCoalesced);
        _validConvStaged = new(() => _acc.LoadStreamKernel<ConvShape, int, int, int, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(ConvKernels.ValidConvStaged));
        _validConvRows = Load<Index1D, int, ConvShape, int, int, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(ConvKernels.ValidConvRows);
        _pad = Load<Index1D, int, ArrayView<float>, int, int, int, ArrayView<float>>(ConvKernels.Pad);
        _flipTranspose = Load<Index1D, int, ArrayView<float>, int, int, int, ArrayView<float>>(ConvKernels.FlipTranspose);
        _weightGrad = Load<Index1D, int, ConvShape, ArrayView<float>, ArrayView<float>, int, ArrayView<float>, int, int, ArrayView<float>>(ConvKernels.WeightGradPartials);
        _weightGradRows = Load<Index1D, int, ConvShape, ArrayView<float>, ArrayView<float>, int, ArrayView<float>, int, int, ArrayView<float>>(ConvKernels.WeightGradRows);
        _channelSum = Load<Index1D, int, ArrayView<float>, int, int, int, int, ArrayView<float>>(ConvKernels.ChannelSumPartials);
        _sumPartials = Load<Index1D, int, ArrayView<float>, int, int, int, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(ReductionKernels.SumPartials);
        _gemmRegister = Load<Index1D, int, GemmShape, ArrayView<float>, ArrayView<float>, int, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(GemmKernels.RegisterTiled);
        _gemmRows = Load<Index1D, int, GemmShape, ArrayView<float>, ArrayView<float>, int, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(GemmKernels.Rows);
        _gemmShared = new(() => _acc.LoadStreamKernel<GemmShape, ArrayView<float>, ArrayView<float>, int, ArrayView<float>, ArrayView<float>, int, ArrayView<float>>(GemmKernels.SharedTiled));
        _bcePartials = Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(LossKernels.BcePartials);
        _bceSigmoidBackward = Load<Index1D, int, ArrayView<float>, ArrayView<float>, ArrayView<float>>(LossKernels.BceSigmoidBackward);
        _finishLoss = new(() => _acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, ArrayView<float>, int>(ReductionKernels.FinishLoss));
        _splitHeads = Load<Index1D, ArrayView<float>, int, int, ulong, ulong, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(LossKernels.SplitHeads);
        _gaussian = Load<Index1D, ArrayView<float>, ArrayView<float>, ulong, ulong, ArrayView<float>, ArrayView<float>>(LossKernels.Gaussian);
        _gaussianBackward = Load<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, ArrayView<float>>(LossKernels.GaussianBackward);
        _adam = Load<Index1D, int, AdamStep, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(OptimizerKernels.Adam);
        _gather = Load<Index1D, int, ArrayView<byte>, ArrayView<int>, int, int, ArrayView<float>>(DataKernels.GatherImages);
    }

    Lazy<Action<T1, T2, T3, T4>> Load<T1, T2, T3, T4>(Action<T1, T2, T3, T4> kernel)
        where T1 : struct, IIndex where T2 : struct where T3 : struct where T4 : struct =>
        new(() => _groupSize > 0 ? _acc.LoadImplicitlyGroupedStreamKernel(kernel, _groupSize) : _acc.LoadAutoGroupedStreamKernel(kernel));
    Lazy<Action<T1, T2, T3, T4, T5>> Load<T1, T2, T3, T4, T5>(Action<T1, T2, T3, T4, T5> kernel)
        where T1 : struct, IIndex where T2 : struct where T3 : struct where T4 : struct where T5 : struct =>
        new(() => _groupSize > 0 ? _acc.LoadImplicitlyGroupedStreamKernel(kernel, _groupSize) : _acc.LoadAutoGroupedStreamKernel(kernel));
    Lazy<Action<T1, T2, T3, T4, T5, T6>> Load<T1, T2, T3, T4, T5, T6>(Action<T1, T2, T3, T4, T5, T6> kernel)
        where T1 : struct, IIndex where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct =>
        new(() => _groupSize > 0 ? _acc.LoadImplicitlyGroupedStreamKernel(kernel, _groupSize) : _acc.LoadAutoGroupedStreamKernel(kernel));
    Lazy<Action<T1, T2, T3, T4, T5, T6, T7>> Load<T1, T2, T3, T4, T5, T6, T7>(Action<T1, T2, T3, T4, T5, T6, T7> kernel)
        where T1 : struct, IIndex where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct =>
        new(() => _groupSize > 0 ? _acc.LoadImplicitlyGroupedStreamKernel(kernel, _groupSize) : _acc.LoadAutoGroupedStreamKernel(kernel));
    Lazy<Action<T1, T2, T3, T4, T5, T6, T7, T8>> Load<T1, T2, T3, T4, T5, T6, T7, T8>(Action<T1, T2, T3, T4, T5, T6, T7, T8> kernel)
        where T1 : struct, IIndex where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct =>
        new(() => _groupSize > 0 ? _acc.LoadImplicitlyGroupedStreamKernel(kernel, _groupSize) : _acc.LoadAutoGroupedStreamKernel(kernel));
    Lazy<Action<T1, T2, T3, T4, T5, T6, T7, T8, T9>> Load<T1, T2, T3, T4, T5, T6, T7, T8, T9>(Action<T1, T2, T3, T4, T5, T6, T7, T8, T9> kernel)
        where T1 : struct, IIndex where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct where T9 : struct =>
        new(() => _groupSize > 0 ? _acc.LoadImplicitlyGroupedStreamKernel(kernel, _groupSize) : _acc.LoadAutoGroupedStreamKernel(kernel));

    Lazy<Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10>> Load<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10>(Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10> kernel)
        where T1 : struct, IIndex where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct where T9 : struct where T10 : struct =>
        new(() => _groupSize > 0 ? _acc.LoadImplicitlyGroupedStreamKernel(kernel, _groupSize) : _acc.LoadAutoGroupedStreamKernel(kernel));
    Lazy<Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11>> Load<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11>(Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11> kernel)
        where T1 : struct, IIndex where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct where T9 : struct where T10 : struct where T11 : struct =>
        new(() => _groupSize > 0 ? _acc.LoadImplicitlyGroupedStreamKernel(kernel, _groupSize) : _acc.LoadAutoGroupedStreamKernel(kernel));

    ArrayView<float> None => _none.View;

    /// <summary>
    /// Threads to launch for <paramref name="work"/> items; the kernels loop over their items with this as
    /// stride. On the CPU accelerator a thread costs about a microsecond to start, so a few hundred threads
    /// per core each take many items; a GPU gets enough to fill every multiprocessor.
    /// </summary>
    int Threads(long work) => (int)Math.Max(1, Math.Min(work, _maxLaunch));

    /// <summary>A reusable device buffer of at least <paramref name="length"/> floats for partial sums.</summary>
    ArrayView<float> Scratch(long length) => Reusable(ref _scratch, length);

    /// <summary>The buffer in <paramref name="buffer"/>, grown to at least <paramref name="length"/> floats.</summary>
    ArrayView<float> Reusable(ref MemoryBuffer1D<float, Stride1D.Dense>? buffer, long length)
    {
        if (buffer is null || buffer.Length < length)
        {
            // Launches queued before may still read the old buffer (the CPU accelerator runs them on its own
            // threads too): wait for them before freeing it. This happens only while the buffer grows.
            if (buffer is not null) { _acc.Synchronize(); _device.Released(buffer.LengthInBytes); buffer.Dispose(); }
            buffer = _device.Allocate<float>(Math.Max(length, 1 << 16));
        }
        return buffer.View.SubView(0, length);
    }

    /// <summary>How many slices to split a reduction of <paramref name="extent"/> into so that
    /// <paramref name="baseThreads"/> threads per slice fill the accelerator.</summary>
    int Slices(int baseThreads, int extent, int minPerSlice)
    {
        int wanted = (_device.Profile.TargetThreads + baseThreads - 1) / baseThreads;
        return Math.Clamp(Math.Min(wanted, extent / Math.Max(1, minPerSlice)), 1, Math.Max(1, extent));
    }

    // ---- convolutions -------------------------------------------------------------------------

    /// <summary>output (B, O, Ho, Wo) = epilogue(valid cross-correlation of input (B, I, H, W) with weight (O, I, K, K)).</summary>
    public void ValidConv(ConvShape s, ArrayView<float> input, ArrayView<float> weight, ArrayView<float>? bias,
        ArrayView<float>? mask, EpilogueFlags flags, ArrayView<float> output) =>
        Conv(s, 0, false, input, weight, bias, mask, flags, output);

    /// <summary>
    /// The convolution every layer runs: a valid cross-correlation of s's shape whose input is stored without
    /// its border of <paramref name="pad"/> zeros (s counts it), with the weight stored (O, I, K, K) or, when
    /// <paramref name="flipped"/>, stored (I, O, K, K) and read rotated 180 degrees (a transposed convolution's
    /// forward, a convolution's input gradient). Versions 3 and 4 read both in place; versions 1 and 2 need
    /// the padded input and flipped weight written out first (two more launches).
    /// </summary>
    public void Conv(ConvShape s, int pad, bool flipped, ArrayView<float> input, ArrayView<float> weight, ArrayView<float>? bias,
        ArrayView<float>? mask, EpilogueFlags flags, ArrayView<float> output)
    {
        var version = ConvVersionFor(s);
        if ((pad > 0 || flipped) && version is ConvVersion.RowTiled or ConvVersion.Coalesced)
        {
            if (pad > 0)
            {
                int h = s.InHeight - 2 * pad, w = s.InWidth - 2 * pad;
                var padded = Reusable(ref _padded, s.InputLength);
                Pad(input, s.Batch * s.InChannels, h, w, pad, padded);
                input = padded;
            }
            if (flipped)
            {
                var turned = Reusable(ref _flipped, s.WeightLength);
                FlipTranspose(weight, s.InChannels, s.OutChannels, s.Kernel, turned);
                weight = turned;
            }
            pad = 0;
            flipped = false;
        }

        long t = Begin();
        int f = flipped ? 1 : 0;
        switch (version)
        {
            case ConvVersion.Rows:
            {
                int n = Threads(ConvKernels.ValidConvRowsThreads(s));
                _validConvRows.Value(n, n, s, pad, f, input, weight, bias ?? None, mask ?? None, (int)flags, output);
                break;
            }
            case ConvVersion.Staged:
                _validConvStaged.Value(ConvKernels.ValidConvStagedConfig(s), s, s.InChannels * s.Kernel * s.Kernel, pad, f,
                    input, weight, bias ?? None, mask ?? None, (int)flags, output);
                break;
            case ConvVersion.Coalesced:
            {
                int n = Threads(ConvKernels.ValidConvCoalescedThreads(s));
                _validConvCoalesced.Value(n, n, s, input, weight, bias ?? None, mask ?? None, (int)flags, output);
                break;
            }
            default:
            {
                int n = Threads(ConvKernels.ValidConvThreads(s));
                _validConv.Value(n, n, s, input, weight, bias ?? None, mask ?? None, (int)flags, output);
                break;
            }
        }
        if (t != 0) End(t, $"conv v{(int)version} {s}{(pad > 0 ? " pad" : "")}{(f != 0 ? " flipped" : "")}", KernelCost.ValidConv(s), s);
    }

    /// <summary>The convolution version that runs at shape s: the requested one, or version 2 where it does not fit.</summary>
    public ConvVersion ConvVersionFor(ConvShape s)
    {
        var requested = ConvOverride ?? _device.Profile.Conv;
        return ConvFits(s, requested) ? requested : ConvVersion.Coalesced;
    }

    /// <summary>Whether a version runs at shape s here: v3 stages at most 1024 taps in groups of Wo x 8
    /// work-items, v4 keeps rows of at most 32 columns.</summary>
    public bool ConvFits(ConvShape s, ConvVersion version) => version switch
    {
        ConvVersion.Rows => ConvKernels.ValidConvRowsFits(s),
        ConvVersion.Staged => ConvKernels.ValidConvStagedFits(s) && s.OutWidth * ConvKernels.StagedRows <= _acc.MaxNumThreadsPerGroup,
        _ => true,
    };

    /// <summary>The weight-gradient version that runs at shape s (v2 needs rows of at most 32 columns).</summary>
    public WeightGradVersion WeightGradVersionFor(ConvShape s)
    {
        var requested = WeightGradOverride ?? _device.Profile.WeightGrad;
        return requested == WeightGradVersion.Rows && !ConvKernels.WeightGradRowsFits(s) ? WeightGradVersion.Tiled : requested;
    }

    /// <summary>
    /// The GEMM version that runs at shape s. Where the profile picks v3 it runs only where it pays: enough rows
    /// to tile, and either a short K or B's columns contiguous (its SIMD loads). On PoCL (2026-11-25, ms, v3
    /// against v1): 128x18432x16 11.7 / 17.2, 18432x16x128 5.4 / 6.4, 128x16x18432 (contiguous) 4.0 / 6.0;
    /// but 128x32x18432 (B strided, long K) 19.9 / 10.7 and 32x18432x128 (32 rows) 20.2 / 13.1.
    /// </summary>
    public GemmVersion GemmVersionFor(GemmShape s)
    {
        if (GemmOverride is { } forced) return forced;
        var v = _device.Profile.Gemm;
        bool pays = s.M >= 64 && (s.K <= 512 || s.StrideBn == 1);
        return v == GemmVersion.Rows && !pays ? GemmVersion.RegisterTiled : v;
    }

    /// <summary>output (planes, H+2p, W+2p) = input (planes, H, W) with a border of p zeros.</summary>
    public void Pad(ArrayView<float> input, int planes, int height, int width, int pad, ArrayView<float> output)
    {
        long t = Begin();
        long items = (long)planes * (height + 2 * pad) * (width + 2 * pad);
        int n = Threads(items);
        _pad.Value(n, n, input, height, width, pad, output);
        if (t != 0) End(t, "pad", KernelCost.Elementwise(items, 0, 2));
    }

    /// <summary>output (Q, P, K, K) = weight (P, Q, K, K) transposed in its first two axes and rotated 180 degrees.</summary>
    public void FlipTranspose(ArrayView<float> weight, int p, int q, int k, ArrayView<float> output)
    {
        long t = Begin();
        int n = Threads(p * q * k * k);
        _flipTranspose.Value(n, n, weight, p, q, k, output);
        if (t != 0) End(t, "flipTranspose", KernelCost.Elementwise(p * q * k * k, 0, 2));
    }

    /// <summary>dWeight (O, I, K, K) = sum over batch and positions of grad (B, O, Ho, Wo) times input (B, I, H, W) shifted.</summary>
    public void ConvWeightGrad(ConvShape s, ArrayView<float> grad, ArrayView<float> input, ArrayView<float> dWeight) =>
        ConvWeightGrad(s, grad, input, None, 0, 0, dWeight);

    /// <summary>
    /// The weight gradient followed, in <paramref name="dWeightThenBias"/>, by the bias gradient: the sums of
    /// <paramref name="biasSource"/> (B, <paramref name="biasChannels"/>, <paramref name="biasPlane"/>) per channel.
    /// One launch (and one sum over batch chunks) for a layer's whole parameter gradient.
    /// </summary>
    public void ConvWeightGrad(ConvShape s, ArrayView<float> grad, ArrayView<float> input,
        ArrayView<float> biasSource, int biasChannels, int biasPlane, ArrayView<float> dWeightThenBias)
    {
        int length = s.WeightLength + biasChannels;
        if (dWeightThenBias.Length != length)
            throw new ArgumentException($"the gradient of {s} with {biasChannels} bias channels has {length} values, not {dWeightThenBias.Length}");
        bool rows = WeightGradVersionFor(s) == WeightGradVersion.Rows;
        int chunks = Slices(rows ? ConvKernels.WeightGradRowsThreads(s, 1) : ConvKernels.WeightGradThreads(s, 1), s.Batch, 1);
        var target = chunks == 1 ? dWeightThenBias : Scratch((long)chunks * length);
        long t = Begin();
        int n = Threads(Math.Max(rows ? ConvKernels.WeightGradRowsThreads(s, chunks) : ConvKernels.WeightGradThreads(s, chunks), chunks * biasChannels));
        (rows ? _weightGradRows : _weightGrad).Value(n, n, s, grad, input, chunks, biasSource, biasChannels, biasPlane, target);
        if (t != 0) End(t, $"weightGrad v{(rows ? 2 : 1)} {s}{(biasChannels > 0 ? "+bias" : "")} x{chunks}", KernelCost.WeightGrad(s, chunks), s);
        if (chunks > 1) SumPartials(target, chunks, length, 1, null, null, EpilogueFlags.None, dWeightThenBias);
    }

    /// <summary>dBias (C) = sum of grad (B, C, plane) over batch and plane.</summary>
    public void ChannelSum(ArrayView<float> grad, int batch, int channels, int plane, ArrayView<float> dBias)
    {
        // A CPU has a few cores, not thousands of lanes: one thread per channel reads the gradient at memory
        // speed, and skipping the chunks saves the launch that sums them.
        int chunks = _device.Profile.ChunkBiasSums ? Slices(channels, batch, 1) : 1;
        var target = chunks == 1 ? dBias : Scratch((long)chunks * channels);
        long t = Begin();
        int n = Threads(chunks * channels);
        _channelSum.Value(n, n, grad, batch, channels, plane, chunks, target);
        if (t != 0) End(t, "channelSum", KernelCost.Elementwise((long)batch * channels * plane, 1, 1));
        if (chunks > 1) SumPartials(target, chunks, channels, 1, null, null, EpilogueFlags.None, dBias);
    }

    public void SumPartials(ArrayView<float> partials, int slices, int length, int columns,
        ArrayView<float>? bias, ArrayView<float>? mask, EpilogueFlags flags, ArrayView<float> output)
    {
        long t = Begin();
        int n = Threads(length);
        _sumPartials.Value(n, n, partials, slices, length, columns, bias ?? None, mask ?? None, (int)flags, output);
        if (t != 0) End(t, "sumPartials", KernelCost.Elementwise((long)length * slices, 1, 1));
    }

    // ---- matrix products ----------------------------------------------------------------------

    /// <summary>C (M, N) = epilogue(A B) with the strides of <paramref name="s"/>, by <see cref="GemmVersionFor"/>.</summary>
    public void Gemm(GemmShape s, ArrayView<float> a, ArrayView<float> b, ArrayView<float>? bias,
        ArrayView<float>? mask, EpilogueFlags flags, ArrayView<float> c)
    {
        var v = GemmVersionFor(s);
        int baseThreads = v switch
        {
            GemmVersion.RegisterTiled => GemmKernels.RegisterTiledThreads(s, 1),
            GemmVersion.Rows => GemmKernels.RowsThreads(s, 1),
            _ => s.M * s.N,
        };
        int splits = Slices(baseThreads, s.K, 64);
        var target = splits == 1 ? c : Scratch((long)splits * s.M * s.N);
        long t = Begin();
        if (v == GemmVersion.SharedTiled)
            _gemmShared.Value(GemmKernels.SharedTiledConfig(s, splits), s, a, b, splits, bias ?? None, mask ?? None, (int)flags, target);
        else
        {
            bool rows = v == GemmVersion.Rows;
            int n = Threads(rows ? GemmKernels.RowsThreads(s, splits) : GemmKernels.RegisterTiledThreads(s, splits));
            (rows ? _gemmRows : _gemmRegister).Value(n, n, s, a, b, splits, bias ?? None, mask ?? None, (int)flags, target);
        }
        if (t != 0) End(t, $"gemm v{(int)v} {s} split{splits}", KernelCost.Gemm(s, splits), s);
        if (splits > 1) SumPartials(target, splits, s.M * s.N, s.N, bias, mask, flags, c);
    }

    // ---- loss, latent, optimizer, data --------------------------------------------------------

    /// <summary>Partial sums of the BCE into <paramref name="partials"/> (length <see cref="LossPartials"/>).</summary>
    public void BcePartials(ArrayView<float> target, ArrayView<float> recon, ArrayView<float> partials)
    {
        long t = Begin();
        _bcePartials.Value((int)partials.Length, target, recon, partials);
        if (t != 0) End(t, "bcePartials", KernelCost.Elementwise(target.Length, 8, 2));
    }

    public void BceSigmoidBackward(ArrayView<float> target, ArrayView<float> recon, ArrayView<float> dLogit)
    {
        long t = Begin();
        int n = Threads(target.Length);
        _bceSigmoidBackward.Value(n, n, target, recon, dLogit);
        if (t != 0) End(t, "bceSigmoidBackward", KernelCost.Elementwise(target.Length, 10, 3));
    }

    /// <summary>
    /// totals[slot] = sum(<paramref name="partials"/>) + the KL of <paramref name="kind"/> over (mu, sigma), in a
    /// fixed order; empty views leave a term out.
    /// </summary>
    public void FinishLoss(ArrayView<float> partials, ArrayView<float> mu, ArrayView<float> sigma, KlKind kind, ArrayView<float> totals, int slot)
    {
        long t = Begin();
        _finishLoss.Value(ReductionKernels.FinishLossConfig, partials, mu, sigma, (int)kind, totals, slot);
        if (t != 0) End(t, "finishLoss", KernelCost.Elementwise(partials.Length + 2 * mu.Length, 4, 1));
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
        long t = Begin();
        _splitHeads.Value((int)mu.Length, heads, latent, sample ? 1 : 0, seed, step, mu, sigma, eps, z);
        if (t != 0) End(t, sample ? "splitHeads+gaussian" : "splitHeads", KernelCost.Elementwise(mu.Length, sample ? 41 : 1, sample ? 6 : 4));
    }

    /// <summary>eps = N(0, 1) from (seed, step, index); z = mu + sigma * eps.</summary>
    public void Gaussian(ArrayView<float> mu, ArrayView<float> sigma, ulong seed, ulong step, ArrayView<float> eps, ArrayView<float> z)
    {
        long t = Begin();
        _gaussian.Value((int)mu.Length, mu, sigma, seed, step, eps, z);
        if (t != 0) End(t, "gaussian", KernelCost.Elementwise(mu.Length, 40, 4));
    }

    /// <summary>The gradient of the heads' output (B, 2 lat) from dz through Gaussian, the split's exp and the KL term.</summary>
    public void GaussianBackward(ArrayView<float> dz, ArrayView<float> mu, ArrayView<float> sigma, ArrayView<float> eps,
        KlKind kind, int latent, ArrayView<float> dHeads)
    {
        long t = Begin();
        _gaussianBackward.Value((int)dz.Length, dz, mu, sigma, eps, (int)kind, latent, dHeads);
        if (t != 0) End(t, "gaussianBackward", KernelCost.Elementwise(dz.Length, 10, 6));
    }

    public void Adam(AdamStep step, ArrayView<float> param, ArrayView<float> grad, ArrayView<float> m, ArrayView<float> v)
    {
        long t = Begin();
        int n = Threads(param.Length);
        _adam.Value(n, n, step, param, grad, m, v);
        if (t != 0) End(t, "adam", KernelCost.Elementwise(param.Length, 12, 7));
    }

    public void GatherImages(ArrayView<byte> images, ArrayView<int> order, int first, int count, int pixels, ArrayView<float> output)
    {
        long t = Begin();
        int n = Threads((long)count * pixels);
        _gather.Value(n, n, images, order, first, pixels, output);
        if (t != 0) End(t, "gather", KernelCost.Elementwise((long)count * pixels, 1, 1.25));
    }

    public void Dispose()
    {
        _none.Dispose();
        _scratch?.Dispose();
        _padded?.Dispose();
        _flipped?.Dispose();
    }
}
