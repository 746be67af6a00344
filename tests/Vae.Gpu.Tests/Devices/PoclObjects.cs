using System.Diagnostics;

namespace Vae.Gpu.Tests.Devices;

/// <summary>The objects PoCL builds, read back from its kernel cache: what the tests of its code generation look at.</summary>
static class PoclObjects
{
    /// <summary>Where PoCL keeps its kernel cache, from the native environment it reads (the tests' own setup points
    /// .NET's copy of XDG_CACHE_HOME elsewhere).</summary>
    public static string? Cache()
    {
        string? home = NativeVariable("HOME");
        var candidates = new[]
        {
            NativeVariable("POCL_CACHE_DIR"),
            NativeVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg ? Path.Combine(xdg, "pocl", "kcache") : null,
            home is { Length: > 0 } ? Path.Combine(home, ".cache", "pocl", "kcache") : null,
        };
        return candidates.FirstOrDefault(c => c is { Length: > 0 } && Directory.Exists(c));
    }

    static string? NativeVariable(string name) => System.Runtime.InteropServices.Marshal.PtrToStringUTF8(getenv(name));

    [System.Runtime.InteropServices.DllImport("libc")]
    static extern IntPtr getenv(string name);

    public static string? Disassemble(string path)
    {
        try
        {
            using var objdump = Process.Start(new ProcessStartInfo("objdump", ["-d", "--no-show-raw-insn", path])
                { RedirectStandardOutput = true, RedirectStandardError = true })!;
            string text = objdump.StandardOutput.ReadToEnd();
            objdump.WaitForExit();
            return objdump.ExitCode == 0 ? text : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    /// <summary>The disassembly of PoCL's newest cached object of kernel <paramref name="kernel"/> (ILGPU names it
    /// Kernel_ and the method's name); skips the test where the cache, the object or objdump is missing. A build
    /// for a warm cache may be older than the test.</summary>
    public static string NewestAssembly(string kernel)
    {
        var cache = Cache();
        Skip.If(cache is null, "PoCL's kernel cache was not found");
        var objects = Directory.EnumerateFiles(cache!, $"Kernel_{kernel}.so", SearchOption.AllDirectories)
            .OrderByDescending(File.GetLastWriteTimeUtc).ToList();
        Skip.If(objects.Count == 0, $"PoCL's cache holds no object of {kernel}");
        string? assembly = Disassemble(objects[0]);
        Skip.If(assembly is null, "objdump is not installed");
        return assembly!;
    }
}
