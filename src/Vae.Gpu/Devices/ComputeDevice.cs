using System.Reflection;
using System.Runtime.InteropServices;
using ILGPU;
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

    /// <summary>Threads a launch should offer to keep this accelerator busy; sets split-K and chunk counts.</summary>
    public int TargetThreads => Type == AcceleratorType.CPU ? 8 * Environment.ProcessorCount : 64 * 1024;

    ComputeDevice(Context context, Accelerator accelerator)
    {
        _context = context;
        Accelerator = accelerator;
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
        var custom = Environment.GetEnvironmentVariable("VAE_CPU_DEVICE")?.Split(',');
        if (custom is { Length: 3 } && custom.All(c => int.TryParse(c, out int v) && v > 0))
            return new(int.Parse(custom[0]), int.Parse(custom[1]), int.Parse(custom[2]));
        return new(4, 4, Environment.ProcessorCount);
    }

    static Context CreateContext(CPUDevice? cpu = null) => Context.Create(builder => builder
        .Cuda()
        .OpenCL()
        .CPU(cpu ?? CpuDevice())
        .EnableAlgorithms()
        .Optimize(OptimizationLevel.O1));

    /// <summary>A CPU accelerator of a given shape (tests use a 256-thread one to check the shared-memory kernels).</summary>
    public static ComputeDevice CreateCpu(CPUDevice cpu)
    {
        var context = CreateContext(cpu);
        return new ComputeDevice(context, context.Devices.First(d => d.AcceleratorType == AcceleratorType.CPU).CreateAccelerator(context));
    }

    /// <summary>Opens the chosen accelerator; throws <see cref="VaeException"/> naming the ones present when it is absent.</summary>
    public static ComputeDevice Create(AcceleratorChoice choice = AcceleratorChoice.Auto)
    {
        RegisterCudaResolver();
        var context = CreateContext();
        try
        {
            Device? device = choice switch
            {
                AcceleratorChoice.Cuda => First(context, AcceleratorType.Cuda),
                AcceleratorChoice.OpenCL => First(context, AcceleratorType.OpenCL),
                AcceleratorChoice.Cpu => First(context, AcceleratorType.CPU),
                _ => First(context, AcceleratorType.Cuda) ?? First(context, AcceleratorType.OpenCL) ?? First(context, AcceleratorType.CPU),
            };
            if (device is null)
            {
                var present = string.Join(", ", context.Devices.Select(d => TypeName(d.AcceleratorType)).Distinct());
                throw new VaeException($"no {choice} accelerator on this machine (present: {present}); use --accelerator auto or one of those");
            }
            return new ComputeDevice(context, device.CreateAccelerator(context));
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>True when the machine has an accelerator of that kind (CPU always).</summary>
    public static bool IsPresent(AcceleratorChoice choice)
    {
        RegisterCudaResolver();
        using var context = CreateContext();
        var type = choice switch { AcceleratorChoice.Cuda => AcceleratorType.Cuda, AcceleratorChoice.OpenCL => AcceleratorType.OpenCL, _ => AcceleratorType.CPU };
        return First(context, type) is not null;
    }

    public static IReadOnlyList<DeviceInfo> List()
    {
        RegisterCudaResolver();
        using var context = CreateContext();
        return context.Devices
            .Select(d => new DeviceInfo(TypeName(d.AcceleratorType), d.Name, d.MemorySize, d.MaxNumThreadsPerGroup, d.NumMultiprocessors))
            .ToList();
    }

    static Device? First(Context context, AcceleratorType type) => context.Devices.FirstOrDefault(d => d.AcceleratorType == type);

    public static string TypeName(AcceleratorType type) => type switch
    {
        AcceleratorType.Cuda => "cuda",
        AcceleratorType.OpenCL => "opencl",
        AcceleratorType.CPU => "cpu",
        _ => type.ToString().ToLowerInvariant(),
    };

    static int _resolverRegistered;

    /// <summary>ILGPU loads "libcuda.so"; drivers often install only libcuda.so.1.</summary>
    static void RegisterCudaResolver()
    {
        if (Interlocked.Exchange(ref _resolverRegistered, 1) == 1) return;
        System.Runtime.Loader.AssemblyLoadContext.Default.ResolvingUnmanagedDll += (_, name) =>
            name.Contains("cuda", StringComparison.OrdinalIgnoreCase) && OperatingSystem.IsLinux()
                && NativeLibrary.TryLoad("libcuda.so.1", out var handle) ? handle : IntPtr.Zero;
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
                $"out of memory on {Name}: asked for {bytes / (1024.0 * 1024):F1} MiB with {BytesInUse / (1024.0 * 1024):F1} MiB in use; use a smaller --batch", e);
        }
    }

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
