namespace Vae.Gpu.Kernels;

/// <summary>Index arithmetic every kernel family shares.</summary>
public static class KernelIndex
{
    /// <summary>c + a * b, rounded twice like every other kernel here (ILGPU 1.5.3's OpenCL backend emits an
    /// undefined FusedMultiplyAdd for MathF.FusedMultiplyAdd, so no version uses it).</summary>
    public static float MulAdd(float a, float b, float c) => c + a * b;

    public static int DivUp(int a, int b) => (a + b - 1) / b;
    public static int Min(int a, int b) => a < b ? a : b;
}
