using ILGPU.Runtime;
using ILGPU.Runtime.OpenCL;

namespace Vae.Gpu.Devices;

/// <summary>Which GEMM kernel the linear layers use; the benchmark times both where both run.</summary>
public enum GemmVersion { RegisterTiled = 1, SharedTiled = 2, Rows = 3 }

/// <summary>Which kernel runs the valid convolutions (forward and input gradients of both conv layers).</summary>
public enum ConvVersion { RowTiled = 1, Coalesced = 2, Staged = 3, Rows = 4 }

/// <summary>Which kernel computes the convolutions' weight gradients.</summary>
public enum WeightGradVersion { Tiled = 1, Rows = 2 }

/// <summary>One-line descriptions of the kernel versions, for the benchmark's tables and the check's labels.</summary>
public static class KernelVersions
{
    public static string Describe(this GemmVersion v) => v switch
    {
        GemmVersion.RegisterTiled => "register-tiled 4x4",
        GemmVersion.SharedTiled => "shared-memory 16x16 tiles",
        _ => "rows: 8x32 per work-item, SIMD over columns",
    };

    public static string Describe(this ConvVersion v) => v switch
    {
        ConvVersion.RowTiled => "4 channels x 8 columns per thread",
        ConvVersion.Coalesced => "coalesced: a column x 8 channels per work-item",
        ConvVersion.Staged => "coalesced, weights staged in shared memory, pad/flip folded",
        _ => "rows: 8 channels x 32 columns per work-item, SIMD over columns, pad/flip folded",
    };

    public static string Describe(this WeightGradVersion v) => v switch
    {
        WeightGradVersion.Tiled => "8x4 channel tile per tap and batch chunk",
        _ => "rows: 4 channels x 3 taps, SIMD over columns, per batch chunk",
    };
}

/// <summary>
/// Everything that sizes launches or picks a kernel version on one accelerator, in one place.
/// The choices come from <c>vae-gpu bench</c> where an accelerator of that kind has been measured (the
/// README's performance section has the numbers); the CUDA/OpenCL-GPU rows are estimates until measured.
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
public sealed record DeviceProfile(string Kind, int TargetThreads, int MaxLaunch, GemmVersion Gemm, int LossReadInterval,
    ConvVersion Conv = ConvVersion.RowTiled, int GroupSize = 0, WeightGradVersion WeightGrad = WeightGradVersion.Tiled,
    bool ChunkBiasSums = true)
{
    public static DeviceProfile For(Accelerator accelerator)
    {
        var profile = Measured(accelerator);
        // VAE_CONV=1|2 and VAE_GEMM=1|2 override the measured choice, for experiments and the benchmark's tables.
        if (int.TryParse(Environment.GetEnvironmentVariable("VAE_CONV"), out int conv) && Enum.IsDefined((ConvVersion)conv))
            profile = profile with { Conv = (ConvVersion)conv };
        if (int.TryParse(Environment.GetEnvironmentVariable("VAE_GEMM"), out int gemm) && Enum.IsDefined((GemmVersion)gemm))
            profile = profile with { Gemm = (GemmVersion)gemm };
        if (int.TryParse(Environment.GetEnvironmentVariable("VAE_WGRAD"), out int wgrad) && Enum.IsDefined((WeightGradVersion)wgrad))
            profile = profile with { WeightGrad = (WeightGradVersion)wgrad };
        if (int.TryParse(Environment.GetEnvironmentVariable("VAE_GROUP"), out int group) && group >= 0)
            profile = profile with { GroupSize = group };
        if (int.TryParse(Environment.GetEnvironmentVariable("VAE_TARGET"), out int target) && target > 0)
            profile = profile with { TargetThreads = target };
        return profile;
    }

    static DeviceProfile Measured(Accelerator accelerator)
    {
        int cores = Environment.ProcessorCount;
        return accelerator switch
        {
            // A CPU-accelerator thread is an OS thread that costs about a microsecond to start: a few hundred
            // per core, each looping over many items. The shared-memory GEMM needs 256-thread groups, which
            // made every later launch about twice as slow, so v1; conv v1's row tiles run the big convolutions
            // in 575 and 382 ms against v2's 1067 and 844. Reading the loss costs nothing extra: the CPU
            // accelerator finishes each launch before returning.
            { AcceleratorType: AcceleratorType.CPU } =>
                new("cpu", 8 * cores, 64 * cores, GemmVersion.RegisterTiled, 1, ConvVersion.RowTiled),
            // PoCL runs a work-group as a loop over its work-items and vectorizes only innermost loops, so a
            // kernel whose work-items each loop over taps or K runs scalar; conv v4, weight-gradient v2 and
            // GEMM v3 put a fixed 32-column loop innermost instead (SIMD inside the work-item). Groups of 64
            // spread the work evenly over the cores (ILGPU's automatic 4096 left one core idle at the end of
            // most launches), and 4096 threads a launch are plenty for 2 cores (fewer split-K partials).
            // Measured in the README's "Performance" section.
            CLAccelerator { DeviceType: var type } when type.HasFlag(CLDeviceType.CL_DEVICE_TYPE_CPU) =>
                new("opencl-cpu", 4096, int.MaxValue, GemmVersion.Rows, 25, ConvVersion.Rows, 64, WeightGradVersion.Rows, ChunkBiasSums: false),
            // GPUs (estimates until measured on one): enough threads to fill every multiprocessor, shared-memory
            // GEMM tiles, conv v3 (coalesced columns, weights staged in shared memory, padding and flipped
            // weights read in place: six fewer launches than v2) and weight-gradient v1 (batch chunks).
            { AcceleratorType: AcceleratorType.OpenCL } =>
                new("opencl-gpu", 64 * 1024, 4 * accelerator.MaxNumThreads, GemmVersion.SharedTiled, 25, ConvVersion.Staged),
            _ => new("cuda", 64 * 1024, 4 * accelerator.MaxNumThreads, GemmVersion.SharedTiled, 25, ConvVersion.Staged),
        };
    }
}
