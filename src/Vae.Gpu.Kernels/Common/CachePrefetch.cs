using System.Reflection;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Backends.OpenCL;
using ILGPU.Backends.PTX;
using ILGPU.IR;
using ILGPU.IR.Intrinsics;
using ILGPU.IR.Values;
using static Vae.Gpu.Kernels.KernelIndex;

namespace Vae.Gpu.Kernels;

/// <summary>
/// Software prefetch for the CPU-shaped kernels: on OpenCL, clang's <c>__builtin_prefetch</c> (a prefetch
/// instruction on CPUs; PoCL's own <c>prefetch()</c> is empty); nothing on CUDA (no kernel that calls it runs
/// there) and on ILGPU's CPU accelerator (which runs the empty .NET body). The training step writes 73 MB between
/// one use of a buffer and the next, so its kernels find their operands in memory, and a convolution reads 16-32
/// planes at once, more streams than the hardware's prefetchers follow: asking for the next image's lines while
/// this one computes hides the wait. Contexts get it from <see cref="WithCachePrefetch"/>.
/// </summary>
public static class CachePrefetch
{
    /// <summary>Floats in a 64-byte cache line.</summary>
    public const int LineFloats = 16;

    /// <summary>Asks the cache for the line holding <paramref name="element"/>; no effect on results.</summary>
    [IntrinsicImplementation]
    public static void Line(ref float element) { }

    /// <summary>Asks for the line holding <paramref name="element"/> to write it (the store then finds the line
    /// owned, instead of waiting for its read); no effect on results.</summary>
    [IntrinsicImplementation]
    public static void LineToWrite(ref float element) { }

    /// <summary>Share <paramref name="part"/> of <paramref name="parts"/> of the lines of
    /// view[start .. start + length): the work-items of one image each ask for a slice of the next image, so
    /// the whole of it is asked for once while the current one computes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Share(ArrayView<float> view, int start, int length, int part, int parts, bool write = false)
    {
        int lines = DivUp(length, LineFloats), per = DivUp(lines, parts);
        int first = part * per, last = Min(lines, first + per);
        for (int line = first; line < last; line++)
        {
            ref float element = ref view[start + line * LineFloats];
            if (write) LineToWrite(ref element);
            else Line(ref element);
        }
    }

    /// <summary>OpenCL C: <c>__builtin_prefetch(address);</c> (read, keep in all levels).</summary>
    static void GenerateOpenCL(CLBackend backend, CLCodeGenerator codeGenerator, Value value) =>
        GeneratePrefetch(codeGenerator, value, 0);

    /// <summary>OpenCL C: <c>__builtin_prefetch(address, 1);</c> (for a write: PREFETCHW on x86).</summary>
    static void GenerateOpenCLToWrite(CLBackend backend, CLCodeGenerator codeGenerator, Value value) =>
        GeneratePrefetch(codeGenerator, value, 1);

    /// <summary>PTX: nothing. GPUs run none of the kernels that ask, but every kernel compiles for CUDA.</summary>
    static void GeneratePtx(PTXBackend backend, PTXCodeGenerator codeGenerator, Value value) { }

    static void GeneratePrefetch(CLCodeGenerator codeGenerator, Value value, int write)
    {
        var address = codeGenerator.Load(value[0]);
        using var statement = codeGenerator.BeginStatement("__builtin_prefetch");
        statement.BeginArguments();
        statement.AppendArgument(address);
        statement.AppendArgument();
        statement.AppendConstant(write);
        statement.EndArguments();
    }

    /// <summary>Maps <see cref="Line"/> and <see cref="LineToWrite"/> to the prefetch on OpenCL (nothing on CUDA) in
    /// contexts built with this builder.</summary>
    public static Context.Builder WithCachePrefetch(this Context.Builder builder)
    {
        var type = typeof(CachePrefetch);
        var manager = builder.GetIntrinsicManager();
        foreach (var (name, openCL) in new[] { (nameof(Line), nameof(GenerateOpenCL)), (nameof(LineToWrite), nameof(GenerateOpenCLToWrite)) })
        {
            var method = type.GetMethod(name, BindingFlags.Public | BindingFlags.Static)!;
            manager.RegisterMethod(method, new CLIntrinsic(type, openCL, IntrinsicImplementationMode.GenerateCode));
            manager.RegisterMethod(method, new PTXIntrinsic(type, nameof(GeneratePtx), IntrinsicImplementationMode.GenerateCode));
        }
        return builder;
    }
}
