using System.Runtime.CompilerServices;
using ILGPU;
using static Vae.Gpu.Kernels.FusedMultiplyAdd;

namespace Vae.Gpu.Kernels;

/// <summary>
/// The FMA peak probe: each work-item runs <see cref="Chains"/> independent chains of fused multiply-adds, each a
/// vector of 8 or 16 lanes (the innermost loop of exactly that many iterations, which PoCL turns into one vector
/// per chain, as the lane versions of the families are built), so nothing but the FMA units limits it. What
/// <c>vae-gpu bench</c> measures the kernels against.
/// </summary>
public static class PeakKernels
{
    /// <summary>Independent chains per work-item: more than FMA latency x FMA pipes (4 x 2 on recent CPUs).</summary>
    public const int Chains = 12;

    /// <summary>Start of lane i of work-item w's chains, and the multiplier and addend of every step: x = x s + a
    /// stays bounded (|s| &lt; 1) and is never constant, so no compiler removes the work.</summary>
    public static float Start(int item, int lane) => 0.5f + 1e-4f * (item % 97) + 1e-3f * lane;
    public const float Scale = 0.9999f, Addend = 1e-4f;

    /// <summary>8 lanes: one 256-bit vector per chain on a CPU.</summary>
    [CpuOnly]
    public static void FmaChains8(Index1D index, int iterations, ArrayView<float> output) => Run(index, iterations, output, 8);

    /// <summary>16 lanes: one 512-bit vector per chain where the compiler emits them, else two 256-bit ones.</summary>
    [CpuOnly]
    public static void FmaChains16(Index1D index, int iterations, ArrayView<float> output) => Run(index, iterations, output, 16);

    /// <summary>One lane per work-item, the chains in scalar registers: a GPU's form (its SIMT lanes are the vector).</summary>
    public static void FmaChains1(Index1D index, int iterations, ArrayView<float> output)
    {
        float a0 = Start(index, 0), a1 = Start(index, 1), a2 = Start(index, 2), a3 = Start(index, 3), a4 = Start(index, 4), a5 = Start(index, 5);
        float a6 = Start(index, 6), a7 = Start(index, 7), a8 = Start(index, 8), a9 = Start(index, 9), a10 = Start(index, 10), a11 = Start(index, 11);
        for (int it = 0; it < iterations; it++)
        {
            a0 = MulAdd(a0, Scale, Addend); a1 = MulAdd(a1, Scale, Addend); a2 = MulAdd(a2, Scale, Addend); a3 = MulAdd(a3, Scale, Addend);
            a4 = MulAdd(a4, Scale, Addend); a5 = MulAdd(a5, Scale, Addend); a6 = MulAdd(a6, Scale, Addend); a7 = MulAdd(a7, Scale, Addend);
            a8 = MulAdd(a8, Scale, Addend); a9 = MulAdd(a9, Scale, Addend); a10 = MulAdd(a10, Scale, Addend); a11 = MulAdd(a11, Scale, Addend);
        }
        output[index] = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11));
    }

    /// <summary>FLOPs of one launch: two per lane, chain, iteration and work-item.</summary>
    public static double Flops(long items, int iterations, int width) => 2.0 * items * iterations * Chains * width;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Run(int index, int iterations, ArrayView<float> output, int width)
    {
        var acc = LocalMemory.Allocate<float>(Chains * 16);
        for (int i = 0; i < Chains * width; i++) acc[i] = Start(index, i);
        for (int it = 0; it < iterations; it++)
            for (int x = 0; x < width; x++)
            {
                acc[x] = MulAdd(acc[x], Scale, Addend);
                acc[width + x] = MulAdd(acc[width + x], Scale, Addend);
                acc[2 * width + x] = MulAdd(acc[2 * width + x], Scale, Addend);
                acc[3 * width + x] = MulAdd(acc[3 * width + x], Scale, Addend);
                acc[4 * width + x] = MulAdd(acc[4 * width + x], Scale, Addend);
                acc[5 * width + x] = MulAdd(acc[5 * width + x], Scale, Addend);
                acc[6 * width + x] = MulAdd(acc[6 * width + x], Scale, Addend);
                acc[7 * width + x] = MulAdd(acc[7 * width + x], Scale, Addend);
                acc[8 * width + x] = MulAdd(acc[8 * width + x], Scale, Addend);
                acc[9 * width + x] = MulAdd(acc[9 * width + x], Scale, Addend);
                acc[10 * width + x] = MulAdd(acc[10 * width + x], Scale, Addend);
                acc[11 * width + x] = MulAdd(acc[11 * width + x], Scale, Addend);
            }
        float sum = 0;
        for (int i = 0; i < Chains * width; i++) sum += acc[i];
        output[index] = sum;
    }

    /// <summary>
    /// The memory probe, STREAM's triad: a[i] = b[i] + s c[i], 12 bytes moved per element. <paramref name="chunked"/>
    /// 1 (CPUs): each work-item one contiguous run, a unit-stride loop the vectorizer takes; 0 (GPUs): items
    /// index, index + stride, ... so neighbours read neighbours.
    /// </summary>
    public static void Triad(Index1D index, int stride, int chunked, float s, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c)
    {
        int n = a.IntLength;
        if (chunked != 0)
        {
            int per = KernelIndex.DivUp(n, stride), end = KernelIndex.Min(n, (index + 1) * per);
            for (int i = index * per; i < end; i++) a[i] = MulAdd(s, c[i], b[i]);
        }
        else
        {
            for (int i = index; i < n; i += stride) a[i] = MulAdd(s, c[i], b[i]);
        }
    }
}
