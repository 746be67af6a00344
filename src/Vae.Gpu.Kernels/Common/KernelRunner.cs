using System.Diagnostics;
using System.Reflection;
using ILGPU;
using ILGPU.Runtime;

namespace Vae.Gpu.Kernels;

/// <summary>What a version's "why not" rule may ask of the accelerator it would run on.</summary>
/// <param name="MaxGroupSize">the most work-items in one group.</param>
/// <param name="MaxGridZ">the largest grid extent in Z (65,535 on CUDA).</param>
/// <param name="IsGpu">a GPU, which places a work-item's private arrays in off-chip local memory (a stack
/// frame: ptxas shows it) rather than registers; the CPU-shaped "rows" versions keep one such array.</param>
public readonly record struct DeviceLimits(int MaxGroupSize, int MaxGridZ, bool IsGpu = false)
{
    /// <summary>What <paramref name="accelerator"/> allows, read from it alone.</summary>
    public static DeviceLimits Of(Accelerator accelerator) =>
        new(accelerator.MaxNumThreadsPerGroup, accelerator.MaxGridSize.Z, KernelRunner.IsGpu(accelerator));

    /// <summary>Why a version shaped for CPUs (one private accumulator array per work-item) is not run on a GPU.</summary>
    public const string CpuShapedReason = "keeps a private accumulator array per work-item, which a GPU places in local memory; a CPU-shaped version";
}

/// <summary>
/// One launch as the profiler reports it: the family and version that ran, the call exactly as the caller made
/// it (a <see cref="ConvCall"/>, <see cref="WeightGradCall"/>, <see cref="GemmCall"/>, or null for the
/// single-version kernels), its FLOP and byte counts and, when profiled, its time.
/// </summary>
public sealed record KernelLaunch(string Family, string Kernel, int Version, object? Call, KernelCost Cost, double Seconds)
{
    /// <summary>The row label of the benchmark's per-kernel table: family, version and call.</summary>
    public string Label => Call is null ? Kernel : $"{Family} v{Version} {Kernel} {Call}";
}

/// <summary>
/// Loads kernels on one accelerator (once each: loading compiles) and sizes their launches; each family's
/// launcher asks it for its kernels, thread counts and scratch buffers. Everything is queued on the
/// accelerator's default stream, so scratch can be reused from one launch to the next.
/// </summary>
public abstract class KernelRunner
{
    readonly Dictionary<MethodInfo, Delegate> _loaded = new();

    protected KernelRunner(Accelerator accelerator, int groupSize)
    {
        Accelerator = accelerator;
        GroupSize = groupSize;
    }

    public Accelerator Accelerator { get; }

    /// <summary>Work-items per group of the implicitly grouped kernels; 0 lets ILGPU choose.</summary>
    public int GroupSize { get; }

    public DeviceLimits Limits => DeviceLimits.Of(Accelerator);

    /// <summary>CUDA, or an OpenCL device that is not a CPU.</summary>
    public static bool IsGpu(Accelerator accelerator) => accelerator switch
    {
        { AcceleratorType: AcceleratorType.Cuda } => true,
        ILGPU.Runtime.OpenCL.CLAccelerator cl => !cl.DeviceType.HasFlag(ILGPU.Runtime.OpenCL.CLDeviceType.CL_DEVICE_TYPE_CPU),
        _ => false,
    };

    /// <summary>Whether elementwise kernels (and Pad) give each work-item one contiguous run of items, a unit-stride
    /// loop a CPU's vectorizer takes, rather than striding by the launch as a GPU's neighbours should.</summary>
    public virtual bool ElementwiseRuns => !Limits.IsGpu;

    /// <summary>Threads to start for <paramref name="work"/> items of a grid-stride kernel.</summary>
    public abstract int Threads(long work);

    /// <summary>Threads a launch should offer to keep the accelerator busy (split-K slices, batch chunks).</summary>
    public abstract int TargetThreads { get; }

    /// <summary>How many slices to split a reduction of <paramref name="extent"/> into so that
    /// <paramref name="baseThreads"/> threads per slice fill the accelerator.</summary>
    public abstract int Slices(int baseThreads, int extent, int minPerSlice);

    /// <summary>A reusable buffer of at least <paramref name="length"/> floats; <paramref name="slot"/> names
    /// buffers that must not alias within one call (partial sums, a padded input, a flipped weight).</summary>
    public abstract ArrayView<float> Scratch(ScratchSlot slot, long length);

    /// <summary>A one-element buffer for arguments a launch does not use.</summary>
    public abstract ArrayView<float> None { get; }

    /// <summary>The sum of partial results over slices, with the epilogue (the second launch of a split reduction).</summary>
    public abstract void SumPartials(ArrayView<float> partials, int slices, int length, int columns,
        ArrayView<float>? bias, ArrayView<float>? mask, EpilogueFlags flags, ArrayView<float> output);

    /// <summary>Set while profiling: every launch is timed and reported.</summary>
    public Action<KernelLaunch>? Profiler { get; set; }

    /// <summary>
    /// Whether profiled launches are timed by device events around the launch on its stream (GPUs, where a
    /// host stopwatch around a device-wide wait measures mostly the wait) rather than by the host's clock
    /// between two waits (CPUs, where the launch runs on the host anyway). Needs a context with profiling.
    /// </summary>
    public bool TimesWithDeviceEvents { get; init; }

    /// <summary>Before a launch: makes this accelerator current on the calling thread (a CUDA launch after work
    /// on another accelerator would otherwise go to that one's context) and, when profiling, starts the timer.</summary>
    public LaunchTimer Begin()
    {
        Accelerator.Bind();
        if (Profiler is null) return default;
        if (TimesWithDeviceEvents) return new(0, Accelerator.AddProfilingMarker());
        Accelerator.Synchronize();
        return new(Stopwatch.GetTimestamp(), null);
    }

    /// <summary>After a launch that <see cref="Begin"/> timed: waits for it and reports it.</summary>
    public void End(LaunchTimer start, KernelLaunch launch)
    {
        if (!start.Running) return;
        double seconds;
        if (start.Marker is { } first)
        {
            using var last = Accelerator.AddProfilingMarker();
            seconds = last.MeasureFrom(first).TotalSeconds;
            first.Dispose();
        }
        else
        {
            Accelerator.Synchronize();
            seconds = Stopwatch.GetElapsedTime(start.Ticks).TotalSeconds;
        }
        Profiler?.Invoke(launch with { Seconds = seconds });
    }

    T Cached<T>(Delegate kernel, Func<T> load) where T : Delegate
    {
        lock (_loaded)
        {
            if (!_loaded.TryGetValue(kernel.Method, out var loaded)) _loaded[kernel.Method] = loaded = load();
            return (T)loaded;
        }
    }

    // Grid-stride (implicitly grouped) kernels: the first parameter is the index.
    public Action<Index1D, T2, T3> Stream<T2, T3>(Action<Index1D, T2, T3> k)
        where T2 : struct where T3 : struct =>
        Cached(k, () => GroupSize > 0 ? Accelerator.LoadImplicitlyGroupedStreamKernel(k, GroupSize) : Accelerator.LoadAutoGroupedStreamKernel(k));
    public Action<Index1D, T2, T3, T4> Stream<T2, T3, T4>(Action<Index1D, T2, T3, T4> k)
        where T2 : struct where T3 : struct where T4 : struct =>
        Cached(k, () => GroupSize > 0 ? Accelerator.LoadImplicitlyGroupedStreamKernel(k, GroupSize) : Accelerator.LoadAutoGroupedStreamKernel(k));
    public Action<Index1D, T2, T3, T4, T5> Stream<T2, T3, T4, T5>(Action<Index1D, T2, T3, T4, T5> k)
        where T2 : struct where T3 : struct where T4 : struct where T5 : struct =>
        Cached(k, () => GroupSize > 0 ? Accelerator.LoadImplicitlyGroupedStreamKernel(k, GroupSize) : Accelerator.LoadAutoGroupedStreamKernel(k));
    public Action<Index1D, T2, T3, T4, T5, T6> Stream<T2, T3, T4, T5, T6>(Action<Index1D, T2, T3, T4, T5, T6> k)
        where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct =>
        Cached(k, () => GroupSize > 0 ? Accelerator.LoadImplicitlyGroupedStreamKernel(k, GroupSize) : Accelerator.LoadAutoGroupedStreamKernel(k));
    public Action<Index1D, T2, T3, T4, T5, T6, T7> Stream<T2, T3, T4, T5, T6, T7>(Action<Index1D, T2, T3, T4, T5, T6, T7> k)
        where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct =>
        Cached(k, () => GroupSize > 0 ? Accelerator.LoadImplicitlyGroupedStreamKernel(k, GroupSize) : Accelerator.LoadAutoGroupedStreamKernel(k));
    public Action<Index1D, T2, T3, T4, T5, T6, T7, T8> Stream<T2, T3, T4, T5, T6, T7, T8>(Action<Index1D, T2, T3, T4, T5, T6, T7, T8> k)
        where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct =>
        Cached(k, () => GroupSize > 0 ? Accelerator.LoadImplicitlyGroupedStreamKernel(k, GroupSize) : Accelerator.LoadAutoGroupedStreamKernel(k));
    public Action<Index1D, T2, T3, T4, T5, T6, T7, T8, T9> Stream<T2, T3, T4, T5, T6, T7, T8, T9>(Action<Index1D, T2, T3, T4, T5, T6, T7, T8, T9> k)
        where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct where T9 : struct =>
        Cached(k, () => GroupSize > 0 ? Accelerator.LoadImplicitlyGroupedStreamKernel(k, GroupSize) : Accelerator.LoadAutoGroupedStreamKernel(k));
    public Action<Index1D, T2, T3, T4, T5, T6, T7, T8, T9, T10> Stream<T2, T3, T4, T5, T6, T7, T8, T9, T10>(Action<Index1D, T2, T3, T4, T5, T6, T7, T8, T9, T10> k)
        where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct where T9 : struct where T10 : struct =>
        Cached(k, () => GroupSize > 0 ? Accelerator.LoadImplicitlyGroupedStreamKernel(k, GroupSize) : Accelerator.LoadAutoGroupedStreamKernel(k));
    public Action<Index1D, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11> Stream<T2, T3, T4, T5, T6, T7, T8, T9, T10, T11>(Action<Index1D, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11> k)
        where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct where T9 : struct where T10 : struct where T11 : struct =>
        Cached(k, () => GroupSize > 0 ? Accelerator.LoadImplicitlyGroupedStreamKernel(k, GroupSize) : Accelerator.LoadAutoGroupedStreamKernel(k));

    // Explicitly grouped kernels: launched with a KernelConfig.
    public Action<KernelConfig, T1> Grouped<T1>(Action<T1> k) where T1 : struct =>
        Cached(k, () => Accelerator.LoadStreamKernel(k));
    public Action<KernelConfig, T1, T2, T3, T4, T5, T6> Grouped<T1, T2, T3, T4, T5, T6>(Action<T1, T2, T3, T4, T5, T6> k)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct =>
        Cached(k, () => Accelerator.LoadStreamKernel(k));
    public Action<KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8> Grouped<T1, T2, T3, T4, T5, T6, T7, T8>(Action<T1, T2, T3, T4, T5, T6, T7, T8> k)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct =>
        Cached(k, () => Accelerator.LoadStreamKernel(k));
    public Action<KernelConfig, T1, T2, T3, T4, T5, T6, T7, T8, T9, T10> Grouped<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10>(Action<T1, T2, T3, T4, T5, T6, T7, T8, T9, T10> k)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct where T9 : struct where T10 : struct =>
        Cached(k, () => Accelerator.LoadStreamKernel(k));
}

/// <summary>A profiled launch's start: a host timestamp or a device event; default when not profiling.</summary>
public readonly record struct LaunchTimer(long Ticks, ProfilingMarker? Marker)
{
    public bool Running => Ticks != 0 || Marker is not null;
}

/// <summary>Scratch buffers that one call may hold at the same time.</summary>
public enum ScratchSlot { Partials, PaddedInput, FlippedWeight }
