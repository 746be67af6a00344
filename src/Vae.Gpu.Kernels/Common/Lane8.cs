using System.Runtime.CompilerServices;
using ILGPU;
using static Vae.Gpu.Kernels.KernelIndex;

namespace Vae.Gpu.Kernels;

/// <summary>
/// Eight floats a work-item keeps in registers: the CPU versions' accumulator rows. Scalar fields rather
/// than a private array, because a private array stays in memory on PoCL (nothing in ILGPU's or PoCL's chain
/// unrolls its loops), while eight independent scalars doing the same operation on consecutive addresses are
/// what LLVM's SLP vectorizer packs into one 8-wide vector register and one vector FMA.
/// </summary>
public struct Lane8
{
    public float X0, X1, X2, X3, X4, X5, X6, X7;

    /// <summary>v[at .. at + 7].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lane8 Load(ArrayView<float> v, int at) => new()
    {
        X0 = v[at], X1 = v[at + 1], X2 = v[at + 2], X3 = v[at + 3],
        X4 = v[at + 4], X5 = v[at + 5], X6 = v[at + 6], X7 = v[at + 7],
    };

    /// <summary>v[at + i * step] for lanes i below <paramref name="count"/>, 0 past it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Lane8 LoadStrided(ArrayView<float> v, int at, int step, int count) => new()
    {
        X0 = count > 0 ? v[at] : 0f, X1 = count > 1 ? v[at + step] : 0f,
        X2 = count > 2 ? v[at + 2 * step] : 0f, X3 = count > 3 ? v[at + 3 * step] : 0f,
        X4 = count > 4 ? v[at + 4 * step] : 0f, X5 = count > 5 ? v[at + 5 * step] : 0f,
        X6 = count > 6 ? v[at + 6 * step] : 0f, X7 = count > 7 ? v[at + 7 * step] : 0f,
    };

    /// <summary>this + p * q, lane by lane (fused where <see cref="FusedMultiplyAdd"/> is).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Lane8 MulAdd(float p, Lane8 q) => new()
    {
        X0 = KernelIndex.MulAdd(p, q.X0, X0), X1 = KernelIndex.MulAdd(p, q.X1, X1),
        X2 = KernelIndex.MulAdd(p, q.X2, X2), X3 = KernelIndex.MulAdd(p, q.X3, X3),
        X4 = KernelIndex.MulAdd(p, q.X4, X4), X5 = KernelIndex.MulAdd(p, q.X5, X5),
        X6 = KernelIndex.MulAdd(p, q.X6, X6), X7 = KernelIndex.MulAdd(p, q.X7, X7),
    };

    /// <summary>Writes the lanes to row[at .. at + 7] (a private row the epilogue then stores).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Store(ArrayView<float> row, int at)
    {
        row[at] = X0; row[at + 1] = X1; row[at + 2] = X2; row[at + 3] = X3;
        row[at + 4] = X4; row[at + 5] = X5; row[at + 6] = X6; row[at + 7] = X7;
    }
}
