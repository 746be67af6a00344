using ILGPU.Runtime;
using ILGPU.Runtime.OpenCL;

namespace Vae.Gpu.Devices;

/// <summary>Which GEMM kernel the linear layers use; the benchmark times both where both run.</summary>
public enum GemmVersion { RegisterTiled = 1, SharedTiled = 2 }

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
public sealed record DeviceProfile(string Kind, int TargetThreads, int MaxLaunch, GemmVersion Gemm, int LossReadInterval)
{
    public static DeviceProfile For(Accelerator accelerator)
    {
        int cores = Environment.ProcessorCount;
        return accelerator switch
        {
            // A CPU-accelerator thread is an OS thread that costs about a microsecond to start: a few hundred
            // per core, each looping over many items. The shared-memory GEMM needs 256-thread groups, which
            // made every later launch about twice as slow, so v1. Reading the loss costs nothing extra: the
            // CPU accelerator finishes each launch before returning.
            { AcceleratorType: AcceleratorType.CPU } =>
                new("cpu", 8 * cores, 64 * cores, GemmVersion.RegisterTiled, 1),
            // PoCL runs a work-group as a vectorized loop over its work-items; measured here (PoCL 6, AVX-512)
            // v1 beat v2 at every linear shape of the training step (see README, "Performance").
            CLAccelerator { DeviceType: var type } when type.HasFlag(CLDeviceType.CL_DEVICE_TYPE_CPU) =>
                new("opencl-cpu", 64 * 1024, 4 * accelerator.MaxNumThreads, GemmVersion.RegisterTiled, 25),
            // GPUs: enough threads to fill every multiprocessor; shared-memory tiles (an estimate until measured).
            { AcceleratorType: AcceleratorType.OpenCL } =>
                new("opencl-gpu", 64 * 1024, 4 * accelerator.MaxNumThreads, GemmVersion.SharedTiled, 25),
            _ => new("cuda", 64 * 1024, 4 * accelerator.MaxNumThreads, GemmVersion.SharedTiled, 25),
        };
    }
}
