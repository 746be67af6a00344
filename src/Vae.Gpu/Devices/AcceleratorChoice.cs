namespace Vae.Gpu.Devices;

/// <summary>Which accelerator a run uses. Auto prefers CUDA, then OpenCL, then ILGPU's CPU accelerator.</summary>
public enum AcceleratorChoice { Auto, Cuda, OpenCL, Cpu }

/// <summary>One accelerator this machine offers, as <c>vae-gpu devices</c> prints it.</summary>
public sealed record DeviceInfo(string Type, string Name, long MemoryBytes, int MaxGroupSize, int Multiprocessors);

/// <summary>A user-facing error: the CLI prints its message as one line and exits non-zero.</summary>
public class VaeException : Exception
{
    public VaeException(string message) : base(message) { }
    public VaeException(string message, Exception inner) : base(message, inner) { }
}
