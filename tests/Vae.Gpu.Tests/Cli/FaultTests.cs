using Vae.Gpu.Devices;
using Vae.Gpu.IO;
using Vae.Gpu.Training;

using static Vae.Gpu.Tests.Cli.CliProcess;

namespace Vae.Gpu.Tests.Cli;

/// <summary>Training faults through the real command: NaN loss, Ctrl-C, and a device out of memory.</summary>
public class FaultTests
{
    static string[] Tiny(string outDir, int epochs) => CliProcess.Tiny(outDir, epochs).ToArray();

    [SkippableFact]
    public void NanLossThroughTheCliNamesEpochAndBatchAndKeepsTheCheckpoint()
    {
        SyntheticData.SkipWithoutRealData();
        using var dir = new TempDir();
        using (var first = Start(Tiny(dir.Path, 1))) { first.WaitForExit(); Assert.Equal(0, first.ExitCode); }
        var (tensors, meta) = Safetensors.Read(Checkpoint.ModelPath(dir.Path));
        Array.Fill(tensors["encoder.std.bias"].Data, 1e30f);  // finite, but exp(log sigma) overflows
        Safetensors.Write(Checkpoint.ModelPath(dir.Path), tensors.Values, meta);
        var before = TempDir.Snapshot(dir.Path);

        using var p = Start(Tiny(dir.Path, 2).Concat(new[] { "--resume", dir.Path }).ToArray());
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.Equal(1, p.ExitCode);
        Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("at epoch 2, batch 1", err);
        Assert.Equal(before, TempDir.Snapshot(dir.Path));
    }

    [SkippableFact]
    public void CtrlCFinishesTheBatchSavesAndExitsWith130()
    {
        SyntheticData.SkipWithoutRealData();
        Skip.IfNot(OperatingSystem.IsLinux(), "sends SIGINT with kill(1)");
        using var dir = new TempDir();
        var args = Tiny(dir.Path, 5).ToList();
        args[args.IndexOf("--max-batches") + 1] = "100000";
        using var p = Start(args.ToArray());
        // Wait until training runs (the first progress line), then interrupt as a terminal would.
        WaitForTraining(p);
        Signal(p, "INT");
        string rest = p.StandardOutput.ReadToEnd();
        p.WaitForExit(60_000);
        Assert.Equal(130, p.ExitCode);
        Assert.Contains("Stopped during epoch 1", rest);
        // The library's log names the parameter; the command line names it as its option.
        Assert.Contains($"training again with --resume {dir.Path} repeats epoch 1", rest);
        var checkpoint = Checkpoint.Load(dir.Path, readOptimizer: true);
        Assert.Equal(0, checkpoint.Epoch);
        Assert.True(checkpoint.Optimizer!.Step >= 1);
    }

    /// <summary>
    /// With one batch an epoch every batch is the epoch's last: a Ctrl-C then lets the epoch finish (its test pass
    /// and its save), and the run stops there with 130, instead of training on to the last epoch.
    /// </summary>
    [SkippableFact]
    public void CtrlCStopsARunWhoseEpochsHaveOneBatchAfterSavingTheEpoch()
    {
        SyntheticData.SkipWithoutRealData();
        Skip.IfNot(OperatingSystem.IsLinux(), "sends SIGINT with kill(1)");
        using var dir = new TempDir();
        using var p = Start(Tiny(dir.Path, 10_000).ToArray());
        Task<string> rest;
        try
        {
            WaitForTraining(p);
            Signal(p, "INT");
            rest = p.StandardOutput.ReadToEndAsync();
            Assert.True(p.WaitForExit(60_000), "one Ctrl-C did not stop a run of one-batch epochs within a minute");
        }
        finally
        {
            if (!p.HasExited) { p.Kill(entireProcessTree: true); p.WaitForExit(); }
        }
        Assert.Equal(130, p.ExitCode);
        Assert.Matches(@"Stopped after epoch \d+: saved it to", rest.Result);
        var checkpoint = Checkpoint.Load(dir.Path, readOptimizer: true);
        Assert.InRange(checkpoint.Epoch, 1, 9_999);
        // The saved epoch is whole: one Adam step per epoch, and metrics.json ends at the same epoch.
        Assert.Equal(checkpoint.Epoch, checkpoint.Optimizer!.Step);
        Assert.Equal(checkpoint.Epoch, Metrics.Load(Path.Combine(dir.Path, Metrics.FileName)).Epochs.Last().Epoch);
    }

    /// <summary>A bad value of a variable the library reads is one line naming it, and nothing is written.</summary>
    [Theory]
    [InlineData("VAE_CONV", "99", "VAE_CONV=99 is not a conv version; use one of 1 Tiled")]
    [InlineData("VAE_CONV", "abc", "VAE_CONV=abc is not a conv version")]
    [InlineData("VAE_GEMM", "999", "VAE_GEMM=999 is not a gemm version")]
    [InlineData("VAE_WGRAD", "0", "VAE_WGRAD=0 is not a weight-grad version")]
    [InlineData("VAE_GROUP", "17", "VAE_GROUP=17 is not a whole number in 0..16 (0: ILGPU chooses; 16 is the largest group of CPUAccelerator)")]
    [InlineData("VAE_GROUP", "-1", "VAE_GROUP=-1 is not a whole number in 0..16")]
    [InlineData("VAE_TARGET", "0", "VAE_TARGET=0 is not a whole number in 1..")]
    [InlineData("VAE_CPU_DEVICE", "1,1,1", "VAE_CPU_DEVICE=1,1,1 is not a CPU accelerator's shape")]
    [InlineData("VAE_CPU_DEVICE", "3,3,1", "VAE_CPU_DEVICE=3,3,1 is not a CPU accelerator's shape")]
    [InlineData("VAE_CPU_DEVICE", "2,2,2", "warp x warps at least 16")]
    [InlineData("VAE_CPU_DEVICE", "abc", "VAE_CPU_DEVICE=abc is not a CPU accelerator's shape")]
    [InlineData("VAE_CPU_DEVICE", "0,0,0", "VAE_CPU_DEVICE=0,0,0 is not a CPU accelerator's shape")]
    [InlineData("VAE_GPU_NO_TUNE", "maybe", "VAE_GPU_NO_TUNE=maybe is not a switch")]
    public void ABadEnvironmentVariableIsOneLineNamingIt(string variable, string value, string expected)
    {
        using var dir = new TempDir();
        string? before = Environment.GetEnvironmentVariable(variable);
        Environment.SetEnvironmentVariable(variable, value);
        try
        {
            var (code, _, err) = CliTests.Run(Tiny(dir["run"], 1).ToArray());
            CliTests.AssertOneLineError(code, err, expected);
            Assert.DoesNotContain("unexpected", err);
            Assert.False(Directory.Exists(dir["run"]) && Directory.EnumerateFiles(dir["run"]).Any(f => Path.GetFileName(f) != RunLock.FileName),
                "a refused run wrote files");
        }
        finally { Environment.SetEnvironmentVariable(variable, before); }
    }

    [Fact]
    public void TuneRefusesUnderNoTuneBeforeMeasuringAndTheSwitchTakesWords()
    {
        string? before = Environment.GetEnvironmentVariable(EnvironmentSwitches.NoTune);
        try
        {
            Environment.SetEnvironmentVariable(EnvironmentSwitches.NoTune, "yes");
            var (code, _, err) = CliTests.Run("tune", "--accelerator", "cpu", "--batch", "2");
            CliTests.AssertOneLineError(code, err, "VAE_GPU_NO_TUNE is set, so the tuning cache is never read or written; unset it to tune");
            Assert.True(EnvironmentSwitches.Flag(EnvironmentSwitches.NoTune));
            foreach (var off in new[] { "0", "false", "No" })
            {
                Environment.SetEnvironmentVariable(EnvironmentSwitches.NoTune, off);
                Assert.False(EnvironmentSwitches.Flag(EnvironmentSwitches.NoTune), off);
            }
        }
        finally { Environment.SetEnvironmentVariable(EnvironmentSwitches.NoTune, before); }
    }

    [SkippableFact]
    public void OutOfMemorySaysHowMuchWasAskedFor()
    {
        var device = TestDevices.Get(AcceleratorChoice.Cpu);
        var e = Assert.Throws<VaeException>(() => device.Allocate<float>(1L << 42));
        Assert.Contains("out of memory on cpu", e.Message);
        Assert.Contains("16777216.0 MiB", e.Message);
        Assert.Contains("a smaller BatchSize", e.Message);
    }
}
