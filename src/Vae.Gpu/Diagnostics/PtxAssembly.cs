using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using Vae.Gpu.Devices;
using Vae.Gpu.Kernels;

namespace Vae.Gpu.Diagnostics;

/// <summary>One kernel as NVIDIA's assembler sees it: its resources on sm_90, or why it did not assemble.</summary>
/// <param name="GpuMayPick">a GPU profile or a tuned choice may run it (the CPU-shaped "rows" versions never do).</param>
/// <param name="Error">why it did not compile or assemble; null when it did.</param>
public sealed record PtxKernel(string Type, string Name, bool GpuMayPick, int Registers, int SharedBytes, int StackBytes,
    int SpillStoreBytes, int SpillLoadBytes, string? Error)
{
    public string Label => $"{Type}.{Name}";
    public bool Spills => SpillStoreBytes > 0 || SpillLoadBytes > 0;
}

/// <summary>
/// Every kernel compiled by ILGPU to PTX for sm_90 at PTX ISA 7.8 (the newest that CUDA 11.8's ptxas reads) and
/// assembled by ptxas, so CUDA breakage and register spills show on machines with no GPU. The rules a kernel must
/// meet: it assembles; it does not spill; and if a GPU may run it, it has no local-memory stack frame and its
/// static shared memory fits 48 KB (what every CUDA GPU gives a block without opting in).
/// </summary>
public static class PtxAssembly
{
    public const string Architecture = "sm_90";
    public const int SharedMemoryLimit = 48 * 1024;

    /// <summary>Every kernel of <see cref="Vae.Gpu.Kernels"/>: public static void methods whose first parameter is
    /// an index, or that are explicitly grouped.</summary>
    public static IReadOnlyList<MethodInfo> KernelMethods() =>
        typeof(ConvKernels).Assembly.GetTypes()
            .Where(t => t.IsClass && t.IsAbstract && t.IsSealed && t.Namespace == "Vae.Gpu.Kernels")
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static))
            .Where(m => m.ReturnType == typeof(void) && m.GetParameters().Length > 0 &&
                        (m.GetParameters()[0].ParameterType == typeof(Index1D) || m.GetCustomAttribute<ExplicitlyGroupedAttribute>() is not null))
            .OrderBy(m => m.DeclaringType!.Name, StringComparer.Ordinal).ThenBy(m => m.Name, StringComparer.Ordinal)
            .ToList();

    /// <summary>The PTX of one kernel for sm_90 at ISA 7.8.</summary>
    public static string Compile(Context context, MethodInfo kernel)
    {
        var backend = new PTXBackend(context, CudaArchitecture.SM_90, CudaInstructionSet.ISA_78, null!);
        var entry = kernel.GetParameters()[0].ParameterType == typeof(Index1D)
            ? EntryPointDescription.FromImplicitlyGroupedKernel(kernel)
            : EntryPointDescription.FromExplicitlyGroupedKernel(kernel);
        return ((PTXCompiledKernel)backend.Compile(entry, default)).PTXAssembly;
    }

    public static Context CreateContext() => Context.Create(b => b.EnableAlgorithms().WithFusedMultiplyAdd().WithCachePrefetch().Optimize(OptimizationLevel.O1));

    /// <summary>Whether a GPU may run the kernel: any kernel but a family's CPU-shaped version and those marked
    /// <see cref="CpuOnlyAttribute"/>.</summary>
    public static bool GpuMayPick(MethodInfo kernel)
    {
        if (kernel.IsDefined(typeof(CpuOnlyAttribute), false)) return false;
        return !KernelFamilies.Rows.Any(r => r.Method.Equals(kernel) && r.Traits.HasFlag(VersionTraits.CpuShaped));
    }

    /// <summary>ptxas: $VAE_GPU_PTXAS, one on the PATH, or scripts/get-ptxas's cache; null when none is found.</summary>
    public static string? FindPtxas()
    {
        if (EnvironmentSwitches.Text(EnvironmentSwitches.Ptxas) is { } set) return File.Exists(set) ? set : null;
        var candidates = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, "ptxas"))
            .Append("/var/cache/vae-gpu/ptxas-11.8/usr/bin/ptxas")
            .Append(Path.Combine(EnvironmentSwitches.Text("XDG_CACHE_HOME") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"),
                "vae-gpu", "ptxas-11.8", "usr", "bin", "ptxas"));
        return candidates.FirstOrDefault(File.Exists);
    }

    /// <summary>Compiles and assembles every kernel; a kernel that fails either step carries the reason.</summary>
    public static IReadOnlyList<PtxKernel> AssembleAll(string ptxas, Action<string>? progress = null)
    {
        using var context = CreateContext();
        var folder = Directory.CreateTempSubdirectory("vae-gpu-ptx-");
        try
        {
            var results = new List<PtxKernel>();
            foreach (var kernel in KernelMethods())
            {
                progress?.Invoke($"{kernel.DeclaringType!.Name}.{kernel.Name}");
                results.Add(Assemble(context, ptxas, kernel, folder.FullName));
            }
            return results;
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    static PtxKernel Assemble(Context context, string ptxas, MethodInfo kernel, string folder)
    {
        var empty = new PtxKernel(kernel.DeclaringType!.Name, kernel.Name, GpuMayPick(kernel), 0, 0, 0, 0, 0, null);
        string ptx;
        try
        {
            ptx = Compile(context, kernel);
        }
        catch (Exception e)
        {
            return empty with { Error = $"ILGPU could not compile it to PTX: {e.Message.ReplaceLineEndings(" ")}" };
        }
        string file = Path.Combine(folder, $"{empty.Type}.{empty.Name}.ptx");
        File.WriteAllText(file, ptx);
        var (exit, output) = Run(ptxas, "-arch", Architecture, "-v", "-o", "/dev/null", file);
        return exit != 0
            ? empty with { Error = $"ptxas failed (exit {exit}): {string.Join(" ", output.Split('\n').Where(l => l.Contains("error") || l.Contains("fatal")).Take(2))}" }
            : Parse(empty, output);
    }

    /// <summary>Reads ptxas -v's resource lines (one entry function per file).</summary>
    public static PtxKernel Parse(PtxKernel kernel, string output)
    {
        int Read(string pattern) => Regex.Match(output, pattern) is { Success: true } m ? int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        if (!Regex.IsMatch(output, @"Used \d+ registers"))
            return kernel with { Error = $"ptxas printed no resource usage: {output.Trim().ReplaceLineEndings(" ")}" };
        return kernel with
        {
            Registers = Read(@"Used (\d+) registers"),
            SharedBytes = Read(@"(\d+) bytes smem"),
            StackBytes = Read(@"(\d+) bytes stack frame"),
            SpillStoreBytes = Read(@"(\d+) bytes spill stores"),
            SpillLoadBytes = Read(@"(\d+) bytes spill loads"),
        };
    }

    /// <summary>Each rule a kernel breaks, as one line naming it; empty when all hold.</summary>
    public static IEnumerable<string> Problems(IEnumerable<PtxKernel> kernels)
    {
        foreach (var k in kernels)
        {
            if (k.Error is not null) { yield return $"{k.Label}: {k.Error}"; continue; }
            if (k.Spills) yield return $"{k.Label}: spills registers ({k.SpillStoreBytes} bytes stored, {k.SpillLoadBytes} loaded)";
            if (k.GpuMayPick && k.StackBytes > 0) yield return $"{k.Label}: a GPU may run it but it keeps a {k.StackBytes}-byte stack frame in local memory";
            if (k.GpuMayPick && k.SharedBytes > SharedMemoryLimit) yield return $"{k.Label}: {k.SharedBytes} bytes of static shared memory, more than {SharedMemoryLimit}";
        }
    }

    /// <summary>One line: <c>ptxas: 21 kernels assembled for sm_90, no spills</c>, or what went wrong.</summary>
    public static string Summary(IReadOnlyList<PtxKernel> kernels)
    {
        int assembled = kernels.Count(k => k.Error is null), problems = Problems(kernels).Count();
        int spills = kernels.Count(k => k.Error is null && k.Spills);
        string text = $"ptxas: {assembled} of {kernels.Count} kernels assembled for {Architecture}, {(spills == 0 ? "no spills" : $"{spills} spill")}";
        if (assembled == kernels.Count) text = $"ptxas: {assembled} kernels assembled for {Architecture}, {(spills == 0 ? "no spills" : $"{spills} spill")}";
        return problems == 0 ? text : $"{text}; {problems} rule{(problems == 1 ? "" : "s")} broken";
    }

    /// <summary>The table: registers, shared memory, stack frame and spills per kernel.</summary>
    public static IEnumerable<string> Table(IReadOnlyList<PtxKernel> kernels)
    {
        yield return $"{"kernel",-36} {"GPU",3} {"regs",5} {"smem B",7} {"stack B",8} {"spill B",8}";
        foreach (var k in kernels)
            yield return k.Error is not null
                ? $"{k.Label,-36} {(k.GpuMayPick ? "yes" : "no"),3} {k.Error}"
                : $"{k.Label,-36} {(k.GpuMayPick ? "yes" : "no"),3} {k.Registers,5} {k.SharedBytes,7} {k.StackBytes,8} {k.SpillStoreBytes + k.SpillLoadBytes,8}";
    }

    static (int Exit, string Output) Run(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) info.ArgumentList.Add(a);
        Process p;
        try { p = Process.Start(info) ?? throw new VaeException($"could not start {file}"); }
        catch (System.ComponentModel.Win32Exception e)
        {
            string why = e.Message.TrimEnd('.').Split(". ").Last();   // .NET's sentence ends with the system's reason
            throw new VaeException($"ptxas {file} cannot be run ({why}); make it executable (chmod +x), " +
                                   $"or give another with --ptxas or {EnvironmentSwitches.Ptxas} (scripts/get-ptxas fetches one)");
        }
        using var process = p;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout + stderr.Result);
    }
}
