using System.IO.Compression;
using System.Text;
using Vae.Gpu.Data;
using Vae.Gpu.Devices;
using Vae.Gpu.IO;
using Vae.Gpu.Model;
using Vae.Gpu.Training;

using static Vae.Gpu.Tests.Cli.CliProcess;

namespace Vae.Gpu.Tests.Cli;

/// <summary>
/// Saved work survives crashes, concurrent writers and bad checkpoints: kill -9 at every step of a save,
/// two writers, a double Ctrl-C, each malformed checkpoint field, and runs too large for memory.
/// </summary>
public class SavedWorkTests
{
    public static IEnumerable<object[]> SaveSteps() => new[]
    {
        "staged optimizer.safetensors", "staged model.safetensors", "staged metrics.json", "committed",
        "moved optimizer.safetensors", "moved model.safetensors", "moved metrics.json",
    }.Select(s => new object[] { s });

    [Trait("Category", "Slow")]
    [SkippableTheory, MemberData(nameof(SaveSteps))]
    public void KillNineAtEveryStepOfTheSaveLeavesTheLastCompleteEpochLoadable(string step)
    {
        SyntheticData.SkipWithoutRealData();
        using var dir = new TempDir();
        Assert.Equal(0, RunToEnd(Tiny(dir.Path, 1)).Code);
        var (code, output) = RunToEnd(Tiny(dir.Path, 2, "--resume", dir.Path), crashAt: step);
        Assert.True(code == 137 || code == -1 || code > 128, $"the process was not killed at '{step}' (exit {code}): {output}");

        // Before the commit point the save never happened; after it, it is finished by the next writer.
        int expected = step.StartsWith("staged") ? 1 : 2;
        var (analyzeCode, analyzeOut) = RunToEnd(new[] { "analyze", "--run", dir.Path, "--out", dir["a"], "--accelerator", "cpu", "--eval-images", "200" });
        Assert.True(analyzeCode == 0, analyzeOut);
        var (resumeCode, resumeOut) = RunToEnd(Tiny(dir.Path, 3, "--resume", dir.Path));
        Assert.True(resumeCode == 0, resumeOut);
        Assert.Contains($"after epoch {expected}", resumeOut);
        var checkpoint = Checkpoint.Load(dir.Path, readOptimizer: true);
        Assert.Equal(3, checkpoint.Epoch);
        Assert.Equal(new[] { 1, 2, 3 }, Metrics.TryLoad(dir.Path)!.Epochs.Select(e => e.Epoch));
        Assert.False(Directory.Exists(dir[RunJournal.StagingFolder]));
        Assert.False(File.Exists(dir[RunJournal.CommitFile]));
        Assert.Empty(Directory.GetFiles(dir.Path, ".*.tmp"));
    }

    [SkippableFact]
    public void ASecondWriterFailsAtOnceNamingTheHolderAndTheLockEndsWithItsProcess()
    {
        SyntheticData.SkipWithoutRealData();
        Skip.IfNot(OperatingSystem.IsLinux(), "kills with kill(1)");
        using var dir = new TempDir();
        var longRun = Tiny(dir.Path, 5);
        longRun[longRun.IndexOf("--max-batches") + 1] = "100000";
        using var first = Start(longRun);
        WaitForTraining(first);

        var (code, output) = RunToEnd(Tiny(dir.Path, 1, "--overwrite"));
        Assert.Equal(1, code);
        Assert.Contains($"is being written by another vae-gpu (PID {first.Id} on {Environment.MachineName} since ", output);

        first.Kill(); // kill -9: the lock file stays behind, but the OS lock ended with the process
        first.WaitForExit();
        Assert.True(File.Exists(dir[RunLock.FileName]));
        (code, output) = RunToEnd(Tiny(dir.Path, 1, "--overwrite"));
        Assert.True(code == 0, output);
        // Released, not deleted (see RunLock): empty, and free for the next writer.
        Assert.Equal("", File.ReadAllText(dir[RunLock.FileName]));
        using (RunLock.Acquire(dir.Path)) { }
    }

    [SkippableFact]
    public void ADoubleCtrlCLeavesNoSaveOrOneConsistentSave()
    {
        SyntheticData.SkipWithoutRealData();
        Skip.IfNot(OperatingSystem.IsLinux(), "sends SIGINT with kill(1)");
        using var dir = new TempDir();
        var args = Tiny(dir.Path, 5);
        args.RemoveRange(args.IndexOf("--max-batches"), 2);
        using var p = Start(args);
        WaitForTraining(p);
        for (int i = 0; i < 2; i++) Signal(p, "INT");
        p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(60_000));
        Assert.NotEqual(0, p.ExitCode);

        // The second Ctrl-C may end the save at any point: the next writer finishes or discards it, and
        // whatever is in place is one save (model and optimizer state from the same one).
        if (File.Exists(Checkpoint.ModelPath(dir.Path)))
        {
            var (code, output) = RunToEnd(new[] { "analyze", "--run", dir.Path, "--out", dir["a"], "--accelerator", "cpu", "--eval-images", "200" });
            Assert.True(code == 0, output);
        }
        using (RunLock.Acquire(dir.Path)) RunJournal.Recover(dir.Path);
        if (File.Exists(Checkpoint.ModelPath(dir.Path)))
            Assert.Equal(0, Checkpoint.Load(dir.Path, readOptimizer: true).Epoch);
        Assert.False(Directory.Exists(dir[RunJournal.StagingFolder]));
    }

    [SkippableFact]
    public void ResumeKeepsTheRunsSettingsRefusesContradictionsAndTrainRefusesToOverwrite()
    {
        SyntheticData.SkipWithoutRealData();
        using var dir = new TempDir();
        Assert.Equal(0, RunToEnd(Tiny(dir.Path, 1, "--lr", "0.002", "--seed", "5")).Code);
        var before = TempDir.Snapshot(dir.Path);

        var (code, output) = RunToEnd(Tiny(dir.Path, 1));
        Assert.Equal(1, code);
        Assert.Contains("already holds a run; continue it with --resume", output);
        (code, output) = RunToEnd(new[] { "train", "--out", dir.Path, "--resume", dir.Path, "--epochs", "2", "--lr", "0.01", "--accelerator", "cpu" });
        Assert.Equal(1, code);
        Assert.Contains("--lr 0.01 disagrees with the run being resumed (--lr 0.002)", output);
        Assert.Equal(before, TempDir.Snapshot(dir.Path));

        // Without options it continues as trained: batch 16, lr 0.002, one batch an epoch, seed 5.
        (code, output) = RunToEnd(new[] { "train", "--out", dir.Path, "--resume", dir.Path, "--epochs", "2", "--accelerator", "cpu" });
        Assert.True(code == 0, output);
        var config = Metrics.TryLoad(dir.Path)!.Config;
        Assert.Equal(16, config["batch"].GetInt32());
        Assert.Equal(0.002, config["lr"].GetDouble(), 6);
        Assert.Equal(1, config["max_batches"].GetInt32());
        Assert.Equal(5, config["seed"].GetInt32());
        Assert.All(Metrics.TryLoad(dir.Path)!.Epochs, e => Assert.Equal(16, e.TrainImages));
    }

    /// <summary>A real checkpoint with one metadata field changed, and what the error must say.</summary>
    public static IEnumerable<object[]> MalformedFields() => new[]
    {
        new object[] { "model", "epoch", null!, "metadata 'epoch' is missing" },
        new object[] { "model", "epoch", "-3", "metadata 'epoch' is '-3', not a whole number" },
        new object[] { "optimizer", "adam_step", "abc", "metadata 'adam_step' is 'abc', not a whole number" },
        new object[] { "model", "kl", "textbook", "metadata 'kl' is 'textbook', neither seed nor standard" },
        new object[] { "model", "c1", "99999999999", "metadata 'c1' is '99999999999', too large" },
        new object[] { "optimizer", "run_id", "another-run", "are from different saves" },
        new object[] { "optimizer", "lr", "fast", "metadata 'lr' is 'fast', not a positive number" },
    };

    [SkippableTheory, MemberData(nameof(MalformedFields))]
    public void EachMalformedMetadataFieldIsOneLineNamingTheFile(string file, string key, string? value, string expected)
    {
        var dir = SavedRun();
        string path = Path.Combine(dir.Path, file == "model" ? Checkpoint.ModelFile : Checkpoint.OptimizerFile);
        var (tensors, meta) = Safetensors.Read(path);
        if (value is null) meta.Remove(key); else meta[key] = value;
        Safetensors.Write(path, tensors.Values, meta);
        var ex = Assert.Throws<VaeException>(() => Checkpoint.Load(dir.Path, readOptimizer: true));
        Assert.Contains(expected, ex.Message);
        Assert.DoesNotContain("\n", ex.Message);
        if (!expected.Contains("different saves")) Assert.StartsWith($"corrupt checkpoint {path}", ex.Message);
        dir.Dispose();
    }

    public static IEnumerable<object[]> MalformedHeaders() => new[]
    {
        new object[] { "{\"__metadata__\":{\"epoch\":3}}", "metadata 'epoch' is a number, not a string" },
        new object[] { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "names 'a' twice" },
        new object[] { "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296],\"data_offsets\":[0,4]}}", "is not a size" },
        new object[] { "{\"a\":{\"dtype\":\"F32\",\"shape\":[2147483647,2147483647,2147483647],\"data_offsets\":[0,4]}}", "overflows" },
        new object[] { "{\"a\":{\"dtype\":\"F32\",\"shape\":\"big\",\"data_offsets\":[0,4]}}", "lacks a dtype, shape or data_offsets" },
    };

    [Theory, MemberData(nameof(MalformedHeaders))]
    public void EachMalformedHeaderIsOneLineNamingTheFile(string header, string expected)
    {
        using var dir = new TempDir();
        var bytes = Encoding.UTF8.GetBytes(header);
        File.WriteAllBytes(dir["m.safetensors"], BitConverter.GetBytes((ulong)bytes.Length).Concat(bytes).Concat(new byte[4]).ToArray());
        var ex = Assert.Throws<VaeException>(() => Safetensors.Read(dir["m.safetensors"]));
        Assert.StartsWith($"corrupt checkpoint {dir["m.safetensors"]}: ", ex.Message);
        Assert.Contains(expected, ex.Message);
    }

    static TempDir SavedRun()
    {
        var device = TestDevices.Get(AcceleratorChoice.Cpu);
        var dir = new TempDir();
        var options = new TrainOptions { OutDir = dir.Path, Epochs = 1, BatchSize = 8, C1 = 2, C2 = 2, Latent = 2, MaxBatches = 1 };
        new Trainer(options, new PlainObserver(TextWriter.Null)).Run(default, device, (SyntheticData.Make("train", 16, 1), SyntheticData.Make("test", 8, 2)));
        return dir;
    }

    [SkippableFact]
    public void AnalyzeRefusesNonFiniteWeightsAndLeavesEarlierOutputsAsTheyWere()
    {
        var device = TestDevices.Get(AcceleratorChoice.Cpu);
        using var dir = SavedRun();
        var test = SyntheticData.Make("test", 20, 3);
        Vae.Gpu.Analysis.LatentAnalysis.Run(new Vae.Gpu.Analysis.AnalysisOptions(dir.Path, dir["a"]), null, device, test);
        var before = TempDir.Snapshot(dir["a"]);
        var (tensors, meta) = Safetensors.Read(Checkpoint.ModelPath(dir.Path));
        tensors["decoder.linear.weight"].Data[3] = float.NaN;
        Safetensors.Write(Checkpoint.ModelPath(dir.Path), tensors.Values, meta);
        var ex = Assert.Throws<VaeException>(() => Vae.Gpu.Analysis.LatentAnalysis.Run(new Vae.Gpu.Analysis.AnalysisOptions(dir.Path, dir["a"]), null, device, test));
        Assert.Contains("hold NaN or infinite values (decoder.linear.weight)", ex.Message);
        Assert.Equal(before, TempDir.Snapshot(dir["a"]));
    }

    [SkippableFact]
    public void ARunTooLargeForMemoryIsRefusedWithBothSizesBeforeAnythingIsAllocated()
    {
        var device = TestDevices.Get(AcceleratorChoice.Cpu);
        using var dir = new TempDir();
        var options = new TrainOptions { OutDir = dir["o"], Epochs = 1, BatchSize = 60_000 };
        var ex = Assert.Throws<VaeException>(() => new Trainer(options, new PlainObserver(TextWriter.Null))
            .Run(default, device, (SyntheticData.Make("train", 16, 1), SyntheticData.Make("test", 8, 2))));
        Assert.Matches(@"a run with BatchSize 60000 needs about [0-9.]+ GiB on cpu: CPUAccelerator but [0-9.]+ GiB are available; use a smaller BatchSize", ex.Message);
        Assert.False(Directory.Exists(dir["o"]));
    }

    [Trait("Category", "Slow")]
    [SkippableFact]
    public void TheMemoryEstimateCoversWhatTrainingReallyAllocates()
    {
        var device = TestDevices.Get(AcceleratorChoice.Cpu);
        foreach (var (config, batch) in new[] { (new VaeConfig(16, 32, 16, 3), 64), (new VaeConfig(4, 6, 3, 5), 600) })
        {
            using var dir = new TempDir();
            var (train, test) = (SyntheticData.Make("train", batch * 2, 1), SyntheticData.Make("test", 500, 2));
            long before = device.BytesInUse;
            device.ResetPeak();
            var options = new TrainOptions { OutDir = dir.Path, Epochs = 1, BatchSize = batch, C1 = config.C1, C2 = config.C2, Latent = config.Latent, Kernel = config.Kernel, MaxBatches = 2 };
            new Trainer(options, new PlainObserver(TextWriter.Null)).Run(default, device, (train, test));
            long used = device.PeakBytes - before, estimate = MemoryEstimate.TrainingBytes(config, batch, train.Count + test.Count);
            Assert.True(estimate >= used && estimate <= 3 * used, $"estimate {estimate:N0} bytes for {config} at batch {batch}; measured peak {used:N0}");
        }
    }

    [Fact]
    public void ACompressedFileThatInflatesPastItsHeaderIsRefusedWithoutInflatingIt()
    {
        using var dir = new TempDir();
        // A label header declaring 10 labels followed by 200 MB of zeros: a .gz of about 200 KB.
        string path = dir["bomb.gz"];
        using (var gz = new GZipStream(File.Create(path), CompressionLevel.SmallestSize))
        {
            gz.Write(new byte[] { 0, 0, 8, 1, 0, 0, 0, 10 });
            var zeros = new byte[1 << 20];
            for (int i = 0; i < 200; i++) gz.Write(zeros);
        }
        long before = GC.GetTotalAllocatedBytes(precise: true);
        var ex = Assert.Throws<VaeException>(() => Idx.ReadLabels(path));
        Assert.Contains("has more data than its header (10 labels) declares", ex.Message);
        Assert.True(GC.GetTotalAllocatedBytes(precise: true) - before < 10 << 20, "the reader inflated far past the declared size");

        Idx.WriteImages(dir["huge.gz"], 2_000_000, 28, 28, new byte[784]);
        ex = Assert.Throws<VaeException>(() => Idx.ReadImages(dir["huge.gz"]));
        Assert.Contains("more than the 1,073,741,824 allowed", ex.Message);
    }
}
