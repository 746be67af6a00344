namespace Vae.Gpu.Kernels;

/// <summary>
/// Marks a kernel launched with an explicit <c>KernelConfig</c> (it uses groups, shared memory or barriers),
/// so tools that compile every kernel know to load it as explicitly grouped.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class ExplicitlyGroupedAttribute : Attribute { }
