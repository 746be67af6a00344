using System.Diagnostics;
using Vae.Gpu.Devices;
using Vae.Gpu.IO;
using Vae.Gpu.Model;
using Vae.Gpu.Training;

namespace Vae.Gpu.Tests.Interop;

/// <summary>The repository's files and external programs the interop and packaging tests run.</summary>
public static class Repo
{
    /// <summary>The repository root: the folder above the test assembly that holds VaeGpu.sln.</summary>
    public static string Root { get; } = FindRoot();

    static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "VaeGpu.sln"))) return dir.FullName;
        throw new InvalidOperationException($"VaeGpu.sln not found above {AppContext.BaseDirectory}");
    }

    /// <summary>Runs a program to its end (at most <paramref name="timeoutSeconds"/>), returning exit code and output.</summary>
    public static (int Code, string Output) Run(string file, string arguments, int timeoutSeconds = 300) =>
        Run(new ProcessStartInfo(file, arguments) { WorkingDirectory = Root }, timeoutSeconds);

    /// <summary>Runs <paramref name="psi"/> (its output redirected here) to its end: exit code, stdout then stderr.</summary>
    public static (int Code, string Output) Run(ProcessStartInfo psi, int timeoutSeconds)
    {
        psi.RedirectStandardOutput = psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        try
        {
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(timeoutSeconds * 1000))
            {
                p.Kill(entireProcessTree: true);
                return (-1, $"{psi.FileName} {psi.Arguments}{string.Join(" ", psi.ArgumentList)} ran past {timeoutSeconds} s");
            }
            return (p.ExitCode, stdout.Result + stderr.Result);
        }
        catch (System.ComponentModel.Win32Exception e) { return (-1, $"{psi.FileName}: {e.Message}"); }
    }

    /// <summary>Why PyTorch cannot be used here, or null when python3 imports torch and numpy.</summary>
    public static string? PyTorchMissing { get; } = CheckPyTorch();

    static string? CheckPyTorch()
    {
        var (code, output) = Run("python3", "-c \"import torch, numpy; print(torch.__version__)\"", 120);
        return code == 0 ? null : $"PyTorch is not installed for python3 (apt install python3-torch; CI installs it): {output.Trim().Split('\n').Last()}";
    }
}
