using System.Reflection;
using System.Runtime.InteropServices;
using ILGPU;
using Vae.Gpu.Kernels;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace Vae.Gpu.Devices;

/// <summary>
/// One accelerator and everything a run allocates on it. Owns the ILGPU context, the compiled kernels
/// (<see cref="Ops"/>) and a count of the bytes in use, so the benchmark can report peak memory.
/// </summary>
public sealed class ComputeDevice : IDisposable
{
    readonly Context _context;
    long _bytesInUse;

    public Accelerator Accelerator { get; }
    public AcceleratorType Type => Accelerator.AcceleratorType;
    public string Name => $"{TypeName(Type)}: {Accelerator.Name}";
    public DeviceOps Ops { get; }
    public long PeakBytes { get; private set; }
    public long BytesInUse => Interlocked.Read(ref _bytesInUse);

    /// <summary>Launch sizes and default kernel versions for this accelerator.</summary>
    public DeviceProfile Profile { get; }

    /// <summary>Every workspace view this device hands out starts as NaN, so an element a kernel fails to write shows
    /// (the tests' devices set it).</summary>
    internal bool PoisonWorkspaces { get; set; }

    /// <summary>Which version of each kernel family runs each call here (defaults, tuned or forced).</summary>
    public KernelVersions Versions { get; }

    /// <summary>What opening it took: an accelerator that was listed but could not be opened, and what was used instead.</summary>
    public IReadOnlyList<string> Notes { get; }

    ComputeDevice(Context context, Accelerator accelerator, IReadOnlyList<string>? notes = null)
    {
        _context = context;
        Accelerator = accelerator;
        Profile = DeviceProfile.For(accelerator);
        Notes = notes ?? Array.Empty<string>();
        // Each from the accelerator and the profile alone: no member needs another built first.
        Versions = new KernelVersions(Profile, DeviceLimits.Of(accelerator));
        Ops = new DeviceOps(this);
    }

    /// <summary>
    /// ILGPU's CPU accelerator with one multiprocessor per core (its default uses one), 4-wide warps and 16
    /// threads per multiprocessor. Every CPU-accelerator thread is an OS thread: a 256-thread group (what the
    /// shared-memory GEMM needs) made every later launch about twice as slow, so the CPU gets small groups and
    /// the shared-memory kernels run on GPUs. VAE_CPU_DEVICE=warp,warps,multiprocessors overrides it for
    /// experiments.
    /// </summary>
    public static CPUDevice CpuDevice()
    {
        if (EnvironmentSwitches.Text(EnvironmentSwitches.CpuDevice) is not { } text) return new(4, 4, Environment.ProcessorCount);
        var parts = text.Split(',');
        var numbers = parts.Select(p => int.TryParse(p.Trim(), out int v) ? v : 0).ToArray();
        // ILGPU's CPU accelerator needs a warp of a power of two from 2 up; the loss's final sum runs one group of
        // LossLanes work-items, so a group (warp x warps) must hold that many.
        int lanes = Kernels.ReductionKernels.LossLanes;
        if (parts.Length != 3 || numbers.Any(v => v < 1) || numbers[0] < 2 || (numbers[0] & (numbers[0] - 1)) != 0 || numbers[2] > 4096
            || (long)numbers[0] * numbers[1] < lanes)
            throw new VaeException($"{EnvironmentSwitches.CpuDevice}={text} is not a CPU accelerator's shape; give warp,warps,multiprocessors as whole numbers, " +
                                   $"the warp a power of two from 2 and warp x warps at least {lanes} (e.g. 4,4,{Environment.ProcessorCount}), or unset it");
        return new(numbers[0], numbers[1], numbers[2]);
    }

    static Context CreateContext()
    {
        RegisterNativeResolver();
        PoclWideVectors.Apply();
        // Profiling lets the profiler time launches with device events; it is switched on only where CUDA is
        // present, because on OpenCL it turns on profiling for every command of the queue.
        bool cuda = CudaPresent();
        return Context.Create(builder =>
        {
            builder.Cuda().OpenCL().CPU(CpuDevice()).EnableAlgorithms().WithFusedMultiplyAdd().WithCachePrefetch().Optimize(OptimizationLevel.O1);
            if (cuda) builder.Profiling();
        });
    }

    static bool CudaPresent()
    {
        try
        {
            using var probe = Context.Create(builder => builder.Cuda());
            return probe.Devices.Length > 0;
        }
        catch (Exception)
        {
            return false;
        }
    }

    /// <summary>
    /// Opens the chosen accelerator; throws <see cref="VaeException"/> naming the ones present when it is absent.
    /// <c>auto</c> tries CUDA, then OpenCL, then the CPU accelerator: one that is listed but cannot be opened
    /// (a broken driver, a device that refuses ILGPU) is skipped, and <see cref="Notes"/> says so.
    /// </summary>
    public static ComputeDevice Create(AcceleratorChoice choice = AcceleratorChoice.Auto)
    {
        var context = CreateContext();
        try
        {
            var candidates = choice switch
            {
                AcceleratorChoice.Cuda => Of(context, AcceleratorType.Cuda),
                AcceleratorChoice.OpenCL => Of(context, AcceleratorType.OpenCL),
                AcceleratorChoice.Cpu => Of(context, AcceleratorType.CPU),
                _ => Of(context, AcceleratorType.Cuda).Concat(Of(context, AcceleratorType.OpenCL)).Concat(Of(context, AcceleratorType.CPU)).ToList(),
            };
            if (candidates.Count == 0)
            {
                var present = string.Join(", ", context.Devices.Select(d => TypeName(d.AcceleratorType)).Distinct());
                throw new VaeException($"no {choice} accelerator on this machine (present: {present}); use «Accelerator» auto or one of those");
            }
            var (accelerator, notes) = OpenFirst(candidates, d => d.CreateAccelerator(context), d => $"{TypeName(d.AcceleratorType)} ({d.Name})");
            return new ComputeDevice(context, accelerator, notes);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Opens the first candidate that opens; each one before it that failed leaves a note naming it, why, and
    /// what is tried next. When none opens, the last failure is a <see cref="VaeException"/>.
    /// </summary>
    internal static (TResult Opened, List<string> Notes) OpenFirst<TCandidate, TResult>(
        IReadOnlyList<TCandidate> candidates, Func<TCandidate, TResult> open, Func<TCandidate, string> describe)
    {
        var notes = new List<string>();
        for (int i = 0; ; i++)
        {
            try
            {
                return (open(candidates[i]), notes);
            }
            catch (Exception e) when (e is not VaeException)
            {
                string why = e.Message.ReplaceLineEndings(" ").TrimEnd('.');
                if (i + 1 == candidates.Count)
                    throw new VaeException($"{describe(candidates[i])} could not be opened: {why}; check its driver or use another «Accelerator»", e);
                notes.Add($"{describe(candidates[i])} is listed but could not be opened ({why}); trying {describe(candidates[i + 1])}");
            }
        }
    }

    /// <summary>True when the machine has an accelerator of that kind (CPU always).</summary>
    public static bool IsPresent(AcceleratorChoice choice)
    {
        using var context = CreateContext();
        var type = choice switch { AcceleratorChoice.Cuda => AcceleratorType.Cuda, AcceleratorChoice.OpenCL => AcceleratorType.OpenCL, _ => AcceleratorType.CPU };
        return First(context, type) is not null;
    }

    public static IReadOnlyList<DeviceInfo> List()
    {
        using var context = CreateContext();
        return context.Devices
            .Select(d => new DeviceInfo(TypeName(d.AcceleratorType), d.Name, d.MemorySize, d.MaxNumThreadsPerGroup, d.NumMultiprocessors))
            .ToList();
    }

    static Device? First(Context context, AcceleratorType type) => context.Devices.FirstOrDefault(d => d.AcceleratorType == type);
    static List<Device> Of(Context context, AcceleratorType type) => context.Devices.Where(d => d.AcceleratorType == type).ToList();

    public static string TypeName(AcceleratorType type) => type switch
    {
        AcceleratorType.Cuda => "cuda",
        AcceleratorType.OpenCL => "opencl",
        AcceleratorType.CPU => "cpu",
        _ => type.ToString().ToLowerInvariant(),
    };

    static int _resolverRegistered;

    /// <summary>
    /// ILGPU loads "libcuda.so" and "libOpenCL.so", the names of the development links; drivers and the
    /// OpenCL loader package (ocl-icd-libopencl1) often install only libcuda.so.1 and libOpenCL.so.1.
    /// Registered by <see cref="CreateContext"/>, so every path to a context has it.
    /// </summary>
    static void RegisterNativeResolver()
    {
        if (Interlocked.Exchange(ref _resolverRegistered, 1) == 1 || !OperatingSystem.IsLinux()) return;
        System.Runtime.Loader.AssemblyLoadContext.Default.ResolvingUnmanagedDll += (_, name) =>
        {
            string? soname = name.Contains("cuda", StringComparison.OrdinalIgnoreCase) ? "libcuda.so.1"
                : name.Contains("opencl", StringComparison.OrdinalIgnoreCase) ? "libOpenCL.so.1" : null;
            return soname is not null && NativeLibrary.TryLoad(soname, out var handle) ? handle : IntPtr.Zero;
        };
    }

    /// <summary>Allocates a float buffer, counting it toward the device's peak; a failure names the size.</summary>
    public MemoryBuffer1D<T, Stride1D.Dense> Allocate<T>(long length) where T : unmanaged
    {
        long bytes = length * System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        try
        {
            var buffer = Accelerator.Allocate1D<T>(Math.Max(1, length));
            long now = Interlocked.Add(ref _bytesInUse, bytes);
            if (now > PeakBytes) PeakBytes = now;
            return buffer;
        }
        catch (Exception e) when (e is OutOfMemoryException or AcceleratorException)
        {
            throw new VaeException(
                $"out of memory on {Name}: asked for {bytes / (1024.0 * 1024):F1} MiB with {BytesInUse / (1024.0 * 1024):F1} MiB in use; use a smaller «BatchSize»", e);
        }
    }

    /// <summary>
    /// Memory a run can still allocate: on CUDA the driver's free memory (other processes' buffers count); on
    /// OpenCL, which has no such query, the device's memory less what this process holds; on the CPU
    /// accelerator the host's physical memory less what the machine uses now.
    /// </summary>
    public long AvailableBytes => Accelerator switch
    {
        CudaAccelerator cuda => cuda.GetFreeMemory(),
        { AcceleratorType: AcceleratorType.CPU } => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes - GC.GetGCMemoryInfo().MemoryLoadBytes,
        _ => Accelerator.MemorySize - BytesInUse,
    };

    internal void Released(long bytes) => Interlocked.Add(ref _bytesInUse, -bytes);

    public void ResetPeak() => PeakBytes = BytesInUse;

    public void Synchronize() => Accelerator.Synchronize();

    public void Dispose()
    {
        Ops.Dispose();
        Accelerator.Dispose();
        _context.Dispose();
    }
}
