using ILGPU.Runtime;
using ILGPU.Runtime.OpenCL;

namespace Vae.Gpu.Devices;

/// <summary>Which GEMM kernel the linear layers use; the benchmark times both where both run.</summary>
public enum GemmVersion { RegisterTiled = 1, SharedTiled = 2 }

/// <summary>Which kernel runs the valid convolutions (forward and input gradients of both conv layers).</summary>
public enum ConvVersion { RowTiled = 1, Coalesced = 2 }

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
public sealed record DeviceProfile(string Kind, int TargetThreads, int MaxLaunch, GemmVersion Gemm, int LossReadInterval,
    ConvVersion Conv = ConvVersion.RowTiled)
{
    public static DeviceProfile For(Accelerator accelerator)
    {
        var profile = Measured(accelerator);
        // VAE_CONV=1|2 and VAE_GEMM=1|2 override the measured choice, for experiments and the benchmark's tables.
        if (int.TryParse(Environment.GetEnvironmentVariable("VAE_CONV"), out int conv) && Enum.IsDefined((ConvVersion)conv))
            profile = profile with { Conv = (ConvVersion)conv };
        if (int.TryParse(Environment.GetEnvironmentVariable("VAE_GEMM"), out int gemm) && Enum.IsDefined((GemmVersion)gemm))
            profile = profile with { Gemm = (GemmVersion)gemm };
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
            // PoCL runs a work-group as a loop over its work-items that LLVM vectorizes. Measured here (PoCL 6,
            // AVX-512, README "Performance"): GEMM v1 beat v2 at every linear shape; conv v2 (consecutive
            // work-items on consecutive columns) ran the two big convolutions in 99 and 91 ms against v1's
            // 191 and 155; one item per work-item (no launch cap) took the step from 189 to 219 images/s.
            CLAccelerator { DeviceType: var type } when type.HasFlag(CLDeviceType.CL_DEVICE_TYPE_CPU) =>
                new("opencl-cpu", 64 * 1024, int.MaxValue, GemmVersion.RegisterTiled, 25, ConvVersion.Coalesced),
            // GPUs: enough threads to fill every multiprocessor; shared-memory GEMM tiles and coalesced
            // convolutions (estimates until measured on one).
            { AcceleratorType: AcceleratorType.OpenCL } =>
                new("opencl-gpu", 64 * 1024, 4 * accelerator.MaxNumThreads, GemmVersion.SharedTiled, 25, ConvVersion.Coalesced),
            _ => new("cuda", 64 * 1024, 4 * accelerator.MaxNumThreads, GemmVersion.SharedTiled, 25, ConvVersion.Coalesced),
        };
    }
}
