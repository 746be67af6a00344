using Vae.Gpu.Devices;

namespace Vae.Gpu.Tests;

/// <summary>
/// The accelerators tests run on: every kind, each test skipped with the reason where the machine lacks
/// it. One device per kind for the whole run (creating a context compiles nothing but is not free).
/// </summary>
public static class TestDevices
{
    static readonly Dictionary<AcceleratorChoice, Lazy<ComputeDevice?>> Devices = new()
    {
        [AcceleratorChoice.Cpu] = new(() => Open(AcceleratorChoice.Cpu)),
        [AcceleratorChoice.Cuda] = new(() => Open(AcceleratorChoice.Cuda)),
        [AcceleratorChoice.OpenCL] = new(() => Open(AcceleratorChoice.OpenCL)),
    };

    /// <summary>The device, its workspaces poisoned with NaN so that an unwritten element shows in any test.</summary>
    static ComputeDevice? Open(AcceleratorChoice choice)
    {
        if (!ComputeDevice.IsPresent(choice)) return null;
        var device = ComputeDevice.Create(choice);
        device.PoisonWorkspaces = true;
        return device;
    }

    static readonly AcceleratorChoice[] Kinds = { AcceleratorChoice.Cpu, AcceleratorChoice.Cuda, AcceleratorChoice.OpenCL };

    public static IEnumerable<object[]> All => Kinds.Select(c => new object[] { c });

    /// <summary>Every pair of accelerator kinds, for the tests that compare accelerators with each other.</summary>
    public static IEnumerable<object[]> Pairs =>
        from i in Enumerable.Range(0, Kinds.Length)
        from j in Enumerable.Range(i + 1, Kinds.Length - i - 1)
        select new object[] { Kinds[j], Kinds[i] };

    static readonly object Gate = new();

    /// <summary>The device, or a skip that says why it is absent.</summary>
    public static ComputeDevice Get(AcceleratorChoice choice)
    {
        ComputeDevice? device;
        lock (Gate) device = Devices[choice].Value;
        Skip.If(device is null, choice switch
        {
            AcceleratorChoice.OpenCL => "no OpenCL device ILGPU 1.5.3 accepts on this machine (PoCL >= 4 is one: apt install pocl-opencl-icd where packaged, or run under scripts/with-pocl)",
            AcceleratorChoice.Cuda => "no CUDA device on this machine (ILGPU found no NVIDIA driver)",
            _ => $"no {choice} accelerator on this machine",
        });
        return device!;
    }
}
