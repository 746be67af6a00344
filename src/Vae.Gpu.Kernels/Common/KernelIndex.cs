namespace Vae.Gpu.Kernels;

/// <summary>Index arithmetic every kernel family shares.</summary>
public static class KernelIndex
{
    /// <summary>a * b + c, fused on OpenCL and CUDA (see <see cref="FusedMultiplyAdd"/>).</summary>
    public static float MulAdd(float a, float b, float c) => FusedMultiplyAdd.MulAdd(a, b, c);

    public static int DivUp(int a, int b) => (a + b - 1) / b;
    public static int Min(int a, int b) => a < b ? a : b;
    public static int Max(int a, int b) => a > b ? a : b;
}
