namespace Vae.Gpu.Devices;

/// <summary>Which accelerator a run uses. Auto prefers CUDA, then OpenCL, then ILGPU's CPU accelerator.</summary>
public enum AcceleratorChoice { Auto, Cuda, OpenCL, Cpu }

/// <summary>One accelerator this machine offers, as <c>vae-gpu devices</c> prints it.</summary>
public sealed record DeviceInfo(string Type, string Name, long MemoryBytes, int MaxGroupSize, int Multiprocessors);
