using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using System.Text.Json.Nodes;
using ILGPU.Runtime.OpenCL;
using Vae.Gpu.Devices;

namespace Vae.Gpu.Diagnostics;

/// <summary>
/// The machine a measurement ran on, for reports that are compared across machines: the host CPU, its cores and
/// widest vector instructions (a CPU kernel's speed depends on them: AVX2 is 8 floats a vector, AVX-512 16), and
/// for OpenCL the device and driver as the platform names them (PoCL's device name carries the LLVM CPU it targets).
/// </summary>
public sealed record MachineInfo(string Cpu, int Cores, string Vector, bool Fma, string? OpenCLDevice, string? OpenCLPlatform)
{
    public static MachineInfo Of(ComputeDevice device)
    {
        string? clDevice = null, clPlatform = null;
        if (device.Accelerator is CLAccelerator cl)
        {
            clDevice = $"{cl.Name} ({cl.VendorName}, {cl.DeviceType})";
            clPlatform = cl.PlatformName;
        }
        return new(CpuName(), Environment.ProcessorCount, VectorWidth(), System.Runtime.Intrinsics.X86.Fma.IsSupported, clDevice, clPlatform);
    }

    /// <summary>AVX-512, AVX2, AVX, SSE2 on x86; NEON on Arm; what .NET's intrinsics report for this process.</summary>
    public static string VectorWidth() =>
        Avx512F.IsSupported ? "AVX-512 (16 floats)" : Avx2.IsSupported ? "AVX2 (8 floats)" : Avx.IsSupported ? "AVX (8 floats)"
        : Sse2.IsSupported ? "SSE2 (4 floats)" : AdvSimd.IsSupported ? "NEON (4 floats)" : "none";

    /// <summary>The CPU's model name from /proc/cpuinfo (Linux), else the architecture.</summary>
    public static string CpuName()
    {
        try
        {
            if (File.Exists("/proc/cpuinfo"))
                foreach (var line in File.ReadLines("/proc/cpuinfo"))
                    if (line.StartsWith("model name", StringComparison.Ordinal) && line.IndexOf(':') is int colon and > 0)
                        return line[(colon + 1)..].Trim();
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return RuntimeInformation.ProcessArchitecture.ToString();
    }

    public string Describe() =>
        $"machine: {Cpu}, {Cores} cores, {Vector}{(Fma ? ", FMA" : "")}" +
        (OpenCLDevice is null ? "" : $"; OpenCL device {OpenCLDevice} on {OpenCLPlatform}");

    public JsonObject ToJson() => new()
    {
        ["cpu"] = Cpu, ["cores"] = Cores, ["vector"] = Vector, ["fma"] = Fma,
        ["opencl_device"] = OpenCLDevice, ["opencl_platform"] = OpenCLPlatform,
    };
}
