using System.Diagnostics;
using Vae.Gpu.Training;

namespace Vae.Gpu.Tests.Cli;

/// <summary>vae-gpu as a separate process: for signals, kills and concurrent writers.</summary>
public static class CliProcess
{
    static readonly string Cli = Path.Combine(AppContext.BaseDirectory, "vae-gpu.dll");

    /// <summary>Starts vae-gpu; <paramref name="crashAt"/> names a save step at which it kills itself (<see cref="RunJournal.CrashVariable"/>).</summary>
    public static Process Start(IEnumerable<string> args, string? crashAt = null) => Process.Start(Info(args, crashAt))!;

    /// <summary>Runs vae-gpu to its end (at most 3 minutes): exit code, stdout then stderr.</summary>
    public static (int Code, string Output) RunToEnd(IEnumerable<string> args, string? crashAt = null)
    {
        var (code, output) = Interop.Repo.Run(Info(args, crashAt), 180);
        Assert.True(code != -1 || !output.Contains("ran past"), output);
        return (code, output);
    }

    static ProcessStartInfo Info(IEnumerable<string> args, string? crashAt)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Cli);
        foreach (var a in args) info.ArgumentList.Add(a);
        if (crashAt is not null) info.Environment[RunJournal.CrashVariable] = crashAt;
        return info;
    }

    /// <summary>A tiny training on the CPU accelerator: one batch of 16 an epoch, c1 = c2 = lat = 2.</summary>
    public static List<string> Tiny(string outDir, int epochs, params string[] more) =>
        new[] { "train", "--out", outDir, "--epochs", epochs.ToString(), "--max-batches", "1", "--batch", "16", "--c1", "2", "--c2", "2", "--latent", "2", "--accelerator", "cpu" }
            .Concat(more).ToList();

    /// <summary>Reads the process's output until training has run its first batch (or the process ended).</summary>
    public static void WaitForTraining(Process p)
    {
        string? line;
        while ((line = p.StandardOutput.ReadLine()) is not null && !line.Contains("batch 1/")) { }
        Assert.NotNull(line);
    }

    public static void Signal(Process p, string signal)
    {
        using var kill = Process.Start("kill", new[] { $"-{signal}", p.Id.ToString() });
        kill.WaitForExit();
    }
}
