using System.Diagnostics;
using Vae.Gpu.Training;

namespace Vae.Gpu.Tests.Cli;

/// <summary>vae-gpu as a separate process: for signals, kills and concurrent writers.</summary>
public static class CliProcess
{
    static readonly string Cli = Path.Combine(AppContext.BaseDirectory, "vae-gpu.dll");

    /// <summary>Starts vae-gpu; <paramref name="crashAt"/> names a save step at which it kills itself (<see cref="RunJournal.CrashVariable"/>).</summary>
    public static Process Start(IEnumerable<string> args, string? crashAt = null) => Process.Start(Info(args, crashAt))!;

    /// <summary>Starts vae-gpu held at <paramref name="step"/> (<see cref="RunJournal.HoldPoint"/>); returns once it is
    /// waiting there. A line on its standard input lets it go on.</summary>
    public static Process StartHeld(IEnumerable<string> args, string step)
    {
        var info = Info(args, null);
        info.RedirectStandardInput = true;
        info.Environment[EnvironmentSwitches.TestHoldAt] = step;
        var p = Process.Start(info)!;
        string? line;
        while ((line = p.StandardError.ReadLine()) is not null && line != $"holding at {step}") { }
        if (line is null) Assert.Fail($"vae-gpu ended before reaching '{step}': {p.StandardOutput.ReadToEnd()}");
        return p;
    }

    /// <summary>A command line run through <paramref name="wrapper"/> (e.g. unshare): the wrapper's process.</summary>
    public static Process StartWrapped(IEnumerable<string> wrapper, IEnumerable<string> args)
    {
        var inner = Info(args, null);
        var info = new ProcessStartInfo(wrapper.First()) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var w in wrapper.Skip(1)) info.ArgumentList.Add(w);
        info.ArgumentList.Add(inner.FileName);
        foreach (var a in inner.ArgumentList) info.ArgumentList.Add(a);
        return Process.Start(info)!;
    }

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
