using System.Reflection;
using ILGPU;
using ILGPU.Backends.OpenCL;
using ILGPU.Backends.PTX;
using ILGPU.IR;
using ILGPU.IR.Intrinsics;
using ILGPU.IR.Values;

namespace Vae.Gpu.Kernels;

/// <summary>
/// The multiply-add every kernel's inner loop uses, one rounding where the device has a fused instruction:
/// OpenCL's <c>fma(a, b, c)</c> (ILGPU 1.5.3 emits an undefined call for <see cref="MathF.FusedMultiplyAdd"/>
/// there, and PoCL contracts a multiply and an add only inside one C statement, which ILGPU never writes),
/// PTX's <c>fma.rn.f32</c> on CUDA, and <c>c + a * b</c> on ILGPU's CPU accelerator, which runs the .NET body.
/// Contexts get it from <see cref="WithFusedMultiplyAdd"/>; a context without it runs the .NET body everywhere.
/// </summary>
public static class FusedMultiplyAdd
{
    /// <summary>a * b + c: fused on OpenCL and CUDA, two roundings on the CPU accelerator.</summary>
    [IntrinsicImplementation]
    public static float MulAdd(float a, float b, float c) => c + a * b;

    /// <summary>PTX: <c>fma.rn.f32 target, a, b, c;</c> (ILGPU 1.5.3 leaves MathF.FusedMultiplyAdd an
    /// unresolved extern there too).</summary>
    static void GeneratePtx(PTXBackend backend, PTXCodeGenerator codeGenerator, Value value)
    {
        var a = codeGenerator.LoadPrimitive(value[0]);
        var b = codeGenerator.LoadPrimitive(value[1]);
        var c = codeGenerator.LoadPrimitive(value[2]);
        var target = codeGenerator.AllocateHardware(value);
        using var command = codeGenerator.BeginCommand("fma.rn.f32");
        command.AppendArgument(target);
        command.AppendArgument(a);
        command.AppendArgument(b);
        command.AppendArgument(c);
    }

    /// <summary>OpenCL C: <c>target = fma(a, b, c);</c>.</summary>
    static void GenerateOpenCL(CLBackend backend, CLCodeGenerator codeGenerator, Value value)
    {
        var a = codeGenerator.Load(value[0]);
        var b = codeGenerator.Load(value[1]);
        var c = codeGenerator.Load(value[2]);
        var target = codeGenerator.Allocate(value);
        using var statement = codeGenerator.BeginStatement(target);
        statement.AppendCommand("fma");
        statement.BeginArguments();
        statement.AppendArgument(a);
        statement.AppendArgument(b);
        statement.AppendArgument(c);
        statement.EndArguments();
    }

    /// <summary>Maps <see cref="MulAdd"/> to the fused instruction on OpenCL and CUDA in contexts built with
    /// this builder.</summary>
    public static Context.Builder WithFusedMultiplyAdd(this Context.Builder builder)
    {
        var type = typeof(FusedMultiplyAdd);
        var method = type.GetMethod(nameof(MulAdd), BindingFlags.Public | BindingFlags.Static)!;
        var manager = builder.GetIntrinsicManager();
        manager.RegisterMethod(method, new CLIntrinsic(type, nameof(GenerateOpenCL), IntrinsicImplementationMode.GenerateCode));
        manager.RegisterMethod(method, new PTXIntrinsic(type, nameof(GeneratePtx), IntrinsicImplementationMode.GenerateCode));
        return builder;
    }
}
