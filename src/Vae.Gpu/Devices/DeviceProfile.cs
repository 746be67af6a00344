using ILGPU.Runtime;
using ILGPU.Runtime.OpenCL;
using Vae.Gpu.Kernels;

namespace Vae.Gpu.Devices;

/// <summary>
/// Everything that sizes launches on one accelerator, and each family's default version where no tuned choice
/// exists (<see cref="KernelVersions"/>). The defaults come from <c>vae-gpu bench --versions</c> where an accelerator
/// of that kind has been measured (docs/performance.md has the numbers); the CUDA and OpenCL-GPU rows
/// are estimates until measured, so <c>train</c> tunes there first (<see cref="Measured"/>).
/// </summary>
/// <param name="Kind">cpu, opencl-cpu (PoCL and the like), opencl-gpu or cuda.</param>
/// <param name="TargetThreads">threads a launch should offer to keep the accelerator busy (sets split-K and batch chunks).</param>
/// <param name="MaxLaunch">the most threads a grid-stride launch starts; each loops over the rest.</param>
/// <param name="Gemm">the GEMM version of the linear layers.</param>
/// <param name="LossReadInterval">batches between reads of the loss (a read waits for the device).</param>
/// <param name="Conv">the kernel of the valid convolutions.</param>
/// <param name="GroupSize">work-items per group of the implicitly grouped kernels; 0 lets ILGPU choose.</param>
/// <param name="WeightGrad">the kernel of the convolutions' weight gradients.</param>
/// <param name="ChunkBiasSums">split bias-gradient sums over batch chunks (then sum the chunks): for GPUs.</param>
/// <param name="LossPartials">threads (and partial sums) of the BCE's first pass.</param>
public sealed record DeviceProfile(string Kind, int TargetThreads, int MaxLaunch, GemmVersion Gemm, int LossReadInterval,
    ConvVersion Conv = ConvVersion.Tiled, int GroupSize = 0, WeightGradVersion WeightGrad = WeightGradVersion.Tiled,
    bool ChunkBiasSums = true, int LossPartials = 1024)
{
    /// <summary>Work-items per group on GPUs: small enough that a launch of a few thousand threads spreads
    /// over many multiprocessors (ILGPU's occupancy-maximising choice is 640-1024), large enough for full occupancy.</summary>
    public const int GpuGroupSize = 256;

    /// <summary>
    /// A GPU's profile from its size: the thread target (split-K slices, batch chunks) and the most threads a
    /// grid-stride launch starts are four waves of every multiprocessor's resident threads, and the BCE's partial
    /// sums one wave (FinishLoss folds them in two levels).
    /// </summary>
    public static DeviceProfile Gpu(string kind, int multiprocessors, int threadsPerMultiprocessor)
    {
        int wave = Math.Max(1, multiprocessors) * Math.Max(GpuGroupSize, threadsPerMultiprocessor);
        return new(kind, 4 * wave, 4 * wave, GemmVersion.SharedTiled, 25, ConvVersion.Staged, GpuGroupSize, WeightGradVersion.Tiled,
            ChunkBiasSums: true, LossPartials: wave);
    }

    public static DeviceProfile For(Accelerator accelerator)
    {
        var profile = ForKind(accelerator);
        if (EnvironmentSwitches.Version<ConvVersion>(EnvironmentSwitches.Conv, ConvFamily.Name) is { } conv) profile = profile with { Conv = conv };
        if (EnvironmentSwitches.Version<GemmVersion>(EnvironmentSwitches.Gemm, GemmFamily.Name) is { } gemm) profile = profile with { Gemm = gemm };
        if (EnvironmentSwitches.Version<WeightGradVersion>(EnvironmentSwitches.WeightGrad, WeightGradFamily.Name) is { } wgrad) profile = profile with { WeightGrad = wgrad };
        int largest = accelerator.MaxNumThreadsPerGroup;
        if (EnvironmentSwitches.Int(EnvironmentSwitches.GroupSize, 0, largest, $" (0: ILGPU chooses; {largest} is the largest group of {accelerator.Name})") is { } group)
            profile = profile with { GroupSize = group };
        else if (profile.GroupSize > largest)
            throw new VaeException($"{accelerator.Name} allows groups of at most {largest} work-items, fewer than the {profile.GroupSize} its launches use; " +
                                   $"give it more threads per group ({EnvironmentSwitches.CpuDevice}) or set {EnvironmentSwitches.GroupSize}");
        if (EnvironmentSwitches.Int(EnvironmentSwitches.TargetThreads, 1) is { } target) profile = profile with { TargetThreads = target };
        return profile;
    }

    /// <summary>
    /// Elementwise kernels give each work-item one contiguous run of items (CPUs: a unit-stride loop the
    /// vectorizer takes) instead of striding by the launch (GPUs: neighbours read neighbours). The same policy
    /// picks the BCE's first pass (BceRunPartials or BcePartials) and, where bias sums are not chunked, a linear
    /// layer's bias sums by ColumnSums (unless its weight gradient's GEMM v9 sums them in its own pass); <c>bench</c> prints it.
    /// </summary>
    public bool ElementwiseRuns { get; init; }

    /// <summary>The variants <see cref="ElementwiseRuns"/> and <see cref="ChunkBiasSums"/> pick, in words (<c>bench</c>'s profile line).</summary>
    public string ElementwisePolicy =>
        (ElementwiseRuns ? "elementwise kernels in runs per work-item (BceRunPartials" : "elementwise kernels strided (BcePartials")
        + (ChunkBiasSums ? "; bias sums over batch chunks)" : ElementwiseRuns ? "; linear bias sums by ColumnSums or in GEMM v9's pass)" : "; bias sums one thread per channel)");

    /// <summary>Whether this kind's defaults were measured (CPUs: the CPU accelerator and OpenCL on a CPU); GPU rows are estimates.</summary>
    public bool Measured => Kind is "cpu" or OpenClCpuKind;

    /// <summary>The kind of an OpenCL CPU device (PoCL), whose build flags <c>PoclWideVectors</c> sets.</summary>
    public const string OpenClCpuKind = "opencl-cpu";

    public bool IsOpenClCpu => Kind == OpenClCpuKind;

    /// <summary>This machine's CPU has AVX-512 (32 vector registers). Read from the host because an OpenCL CPU
    /// device is always the host's own CPU (PoCL names it by LLVM's target, which need not say avx512: znver4).</summary>
    static bool Avx512 => System.Runtime.Intrinsics.X86.Avx512F.IsSupported;

    static DeviceProfile ForKind(Accelerator accelerator)
    {
        int cores = Environment.ProcessorCount;
        bool wide = PoclWideVectors.Applied;
        return accelerator switch
        {
            // A CPU-accelerator thread is an OS thread that costs about a microsecond to start: a few hundred
            // per core, each looping over many items. The shared-memory GEMM needs 256-thread groups, which
            // made every later launch about twice as slow, so v1; conv v1's register tiles beat v2 there
            // (docs/performance.md). Reading the loss costs nothing extra: the CPU
            // accelerator finishes each launch before returning.
            { AcceleratorType: AcceleratorType.CPU } =>
                new("cpu", 8 * cores, 64 * cores, GemmVersion.RegisterTiled, 1, ConvVersion.Tiled) { ElementwiseRuns = true },
            // PoCL runs a work-group as a loop over its work-items and vectorizes only innermost loops, so a
            // kernel whose work-items each loop over taps or K runs scalar; the lane versions (conv v5/v6,
            // weight-gradient v3, GEMM v4/v6) put a loop of exactly 8 lanes innermost instead (SIMD inside the
            // work-item, accumulators in vector registers). Groups of 64
            // spread the work evenly over the cores (ILGPU's automatic 4096 left one core idle at the end of
            // most launches), and 512 threads a launch per core are plenty (4096 on 2 cores split more products
            // and gradients into partials, whose sums cost more than the spare threads gained).
            // Measured in docs/performance.md. A CPU device is this machine's CPU: with AVX-512's
            // 32 vector registers conv v6 and GEMM v6 hold 16 accumulator vectors; AVX2's 16 would spill them.
            // Where PoCL emits 512-bit vectors (PoclWideVectors), conv v7, weight-gradient v4 and GEMM v7 hold
            // their accumulators in 16-lane registers.
            CLAccelerator { DeviceType: var type } when type.HasFlag(CLDeviceType.CL_DEVICE_TYPE_CPU) =>
                new(OpenClCpuKind, 512 * cores, int.MaxValue, wide ? GemmVersion.WideTiled : Avx512 ? GemmVersion.LaneWide : GemmVersion.LaneTiled, 25,
                    wide ? ConvVersion.FlatRuns : Avx512 ? ConvVersion.LanePairs : ConvVersion.LaneTiled, 64,
                    wide ? WeightGradVersion.WideTiled : WeightGradVersion.LaneTiled, ChunkBiasSums: false) { ElementwiseRuns = true },
            // GPUs (estimates until measured on one): enough threads to fill every multiprocessor, shared-memory
            // GEMM tiles, conv v3 (coalesced columns, weights staged in shared memory, padding and flipped
            // weights read in place: six fewer launches than v2) and weight-gradient v1 (batch chunks).
            { AcceleratorType: AcceleratorType.OpenCL } =>
                Gpu("opencl-gpu", accelerator.NumMultiprocessors, accelerator.MaxNumThreadsPerMultiprocessor),
            _ => Gpu("cuda", accelerator.NumMultiprocessors, accelerator.MaxNumThreadsPerMultiprocessor),
        };
    }
}
