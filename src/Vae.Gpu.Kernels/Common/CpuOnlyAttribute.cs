namespace Vae.Gpu.Kernels;

/// <summary>
/// Marks a kernel shaped for CPUs (a private lane array the vectorizer keeps in a vector register, which a GPU
/// would put in local memory): the launchers run it only where the device is not a GPU, and the PTX rules do
/// not hold it to a GPU's (no stack frame).
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class CpuOnlyAttribute : Attribute { }
