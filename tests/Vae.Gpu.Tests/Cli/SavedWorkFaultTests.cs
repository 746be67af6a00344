using Vae.Gpu.Devices;
using Vae.Gpu.IO;
using Vae.Gpu.Training;

using static Vae.Gpu.Tests.Cli.CliProcess;

namespace Vae.Gpu.Tests.Cli;

/// <summary>
/// The cases an adversarial run found (issue 21): locks across PID namespaces and with unrelated PIDs, a writer
/// paused before its lock, non-finite checkpoints, mixed or half-finished saves read by another command,
/// corrupt metrics and journals. Each ends in one line and a non-zero exit, with the saved work intact.
/// </summary>
public class SavedWorkFaultTests
{
    static string Which(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, tool)).FirstOrDefault(File.Exists) ?? "";

    static readonly (Vae.Gpu.Data.Split, Vae.Gpu.Data.Split) Synthetic = (SyntheticData.Make("train", 48, 1), SyntheticData.Make("test", 20, 2));

    /// <summary>In process, on synthetic data (the cases that need no separate process run here, for speed):
    /// a tiny run of <paramref name="epochs"/>, resumed from <paramref name="resume"/> when given.</summary>
    static void TrainHere(string outDir, int epochs, string? resume = null, float lr = 1e-3f) =>
        new Trainer(new TrainOptions
        {
            OutDir = outDir, Epochs = epochs, BatchSize = 16, C1 = 2, C2 = 2, Latent = 2, MaxBatches = 1, LearningRate = lr,
            ResumeDir = resume, Accelerator = Vae.Gpu.Devices.AcceleratorChoice.Cpu,
        }, new PlainObserver(TextWriter.Null)).Run(default, TestDevices.Get(Vae.Gpu.Devices.AcceleratorChoice.Cpu), Synthetic);

    static void AssertOneLineError(int code, string output, string expected)
    {
        Assert.True(code == 1, $"exit {code}: {output}");
        Assert.Contains(expected, output);
        Assert.DoesNotContain("unexpected", output);
    }

    [SkippableFact]
    public void ALockHeldInAnotherPidNamespaceStopsASecondWriterAndEndsWithItsProcess()
    {
        SyntheticData.SkipWithoutRealData();
        Skip.IfNot(OperatingSystem.IsLinux() && Environment.UserName == "root" && Which("unshare") != "", "needs root and unshare(1) for a PID namespace, as scripts/with-pocl makes");
        using var dir = new TempDir();
        var longRun = Tiny(dir.Path, 5);
        longRun[longRun.IndexOf("--max-batches") + 1] = "100000";
        // vae-gpu is PID 1 of its own namespace, as under scripts/with-pocl.
        using var first = StartWrapped(new[] { "unshare", "--pid", "--fork", "--kill-child" }, longRun);
        WaitForTraining(first);

        var (code, output) = RunToEnd(Tiny(dir.Path, 1, "--overwrite"));
        AssertOneLineError(code, output, "is being written by another vae-gpu (PID 1 on");

        first.Kill(); // kill -9 of the namespace: the OS lock ends with it
        first.WaitForExit();
        Thread.Sleep(500);
        (code, output) = RunToEnd(Tiny(dir.Path, 1, "--overwrite"));
        Assert.True(code == 0, output);
    }

    [SkippableFact]
    public void ALockFileNamingALiveUnrelatedProcessDoesNotBlock()
    {
        using var dir = new TempDir();
        TrainHere(dir.Path, 1);
        File.WriteAllText(dir[RunLock.FileName], "1");  // init: alive, and not a vae-gpu
        TrainHere(dir.Path, 2, resume: dir.Path);
        Assert.Equal(2, Checkpoint.Load(dir.Path).Epoch);
    }

    [SkippableFact]
    public void AWriterPausedBeforeItsLockCannotReplaceARunFinishedMeanwhile()
    {
        SyntheticData.SkipWithoutRealData();
        using var dir = new TempDir();
        string run = dir["run"];
        using var late = StartHeld(Tiny(run, 1, "--seed", "9"), "before lock");
        Assert.Equal(0, RunToEnd(Tiny(run, 1)).Code);
        var finished = TempDir.Snapshot(run);

        late.StandardInput.WriteLine();
        string output = late.StandardOutput.ReadToEnd() + late.StandardError.ReadToEnd();
        Assert.True(late.WaitForExit(120_000));
        AssertOneLineError(late.ExitCode, output, "already holds a run");
        Assert.Equal(finished, TempDir.Snapshot(run));
    }

    public static IEnumerable<object[]> NonFiniteSaves() => new[]
    {
        new object[] { Checkpoint.ModelFile, "encoder.conv1.weight", float.NaN },
        new object[] { Checkpoint.ModelFile, "decoder.deconv2.bias", float.PositiveInfinity },
        new object[] { Checkpoint.OptimizerFile, "v.encoder.mean.weight", -1f },
        new object[] { Checkpoint.OptimizerFile, "m.decoder.linear.bias", float.NaN },
    };

    [SkippableTheory, MemberData(nameof(NonFiniteSaves))]
    public void AResumeRefusesNonFiniteWeightsOrAdamStateBeforeWritingAnything(string file, string tensor, float value)
    {
        using var dir = new TempDir();
        TrainHere(dir.Path, 1);
        var (tensors, meta) = Safetensors.Read(dir[file]);
        tensors[tensor].Data[0] = value;
        Safetensors.Write(dir[file], tensors.Values, meta);
        var before = TempDir.Snapshot(dir.Path);

        var e = Assert.Throws<VaeException>(() => TrainHere(dir.Path, 2, resume: dir.Path));
        Assert.Contains($"corrupt checkpoint {dir[file]}: {tensor} holds", e.Message);
        Assert.Equal(before, TempDir.Snapshot(dir.Path));
    }

    public static IEnumerable<object[]> CorruptMetrics() => new[]
    {
        new object[] { "null", "it is null" },
        new object[] { """{"config": {}, "accelerator": "cpu", "epochs": null}""", "'epochs' is missing or null" },
        new object[] { """{"config": {}, "accelerator": "cpu", "epochs": [null]}""", "epochs[0] is null" },
        new object[] { """{"config": null, "accelerator": "cpu", "epochs": []}""", "'config' is missing or null" },
        new object[] { """{"config": {}, "accelerator": "cpu", "epochs": [{"epoch": "one"}]}""", "not valid metrics JSON" },
        new object[] { "", "no metrics.json" },
    };

    /// <summary>A real metrics.json with one field spoiled (issue 34's cases): resume, evaluate and analyze refuse it
    /// in one line naming the field, and nothing changes.</summary>
    [SkippableTheory]
    [InlineData("remove config", "'config' is missing or null")]
    [InlineData("batch \"16\"", "config.batch is \"16\", not a whole number of at least 1")]
    [InlineData("batch 16.5", "config.batch is 16.5, not a whole number")]
    [InlineData("batch 1e30", "config.batch is 1e30, not a whole number")]
    [InlineData("lr -1", "config.lr is -1, not a positive number")]
    [InlineData("kl \"weird\"", "config.kl is \"weird\"")]
    [InlineData("test_loss -1e308", "epochs[0] holds a loss that is negative or not finite")]
    [InlineData("c1 16", "records c1=16 c2=2 latent=2 kernel=3 but")]
    public void AMetricsFieldOfTheWrongTypeRangeOrRunIsRefused(string spoil, string expected)
    {
        using var dir = new TempDir();
        TrainHere(dir.Path, 1);
        var doc = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(dir[Metrics.FileName]))!.AsObject();
        var config = doc["config"]!.AsObject();
        switch (spoil)
        {
            case "remove config": doc.Remove("config"); break;
            case "batch \"16\"": config["batch"] = "16"; break;
            case "batch 16.5": config["batch"] = 16.5; break;
            case "batch 1e30": config["batch"] = System.Text.Json.Nodes.JsonNode.Parse("1e30"); break;
            case "lr -1": config["lr"] = -1; break;
            case "kl \"weird\"": config["kl"] = "weird"; break;
            case "test_loss -1e308": doc["epochs"]![0]!["test_loss"] = -1e308; break;
            case "c1 16": config["c1"] = 16; break;
        }
        File.WriteAllText(dir[Metrics.FileName], doc.ToJsonString());
        var before = TempDir.Snapshot(dir.Path);

        var e = Assert.ThrowsAny<VaeException>(() => TrainHere(dir.Path, 2, resume: dir.Path));
        Assert.Contains(expected, e.Message);
        var (code, _, err) = CliTests.Run("evaluate", "--run", dir.Path, "--out", dir["e"], "--images", "10", "--accelerator", "cpu");
        Assert.NotEqual(0, code);
        Assert.Contains(expected, err);
        Assert.Equal(before, TempDir.Snapshot(dir.Path));
    }

    [SkippableTheory, MemberData(nameof(CorruptMetrics))]
    public void CorruptOrMissingMetricsStopAResumeWithOneLineAndNoChange(string json, string expected)
    {
        using var dir = new TempDir();
        TrainHere(dir.Path, 1);
        if (json == "") File.Delete(dir[Metrics.FileName]);
        else File.WriteAllText(dir[Metrics.FileName], json);
        var before = TempDir.Snapshot(dir.Path);

        var e = Assert.Throws<VaeException>(() => TrainHere(dir.Path, 2, resume: dir.Path));
        Assert.Contains(expected, e.Message);
        Assert.Equal(before, TempDir.Snapshot(dir.Path));
    }

    [SkippableFact]
    public void ALearningRateOfTenEndsInOneLineKeepingTheLastGoodSave()
    {
        using var dir = new TempDir();
        try { TrainHere(dir.Path, 3, lr: 10); }
        catch (VaeException e) { Assert.Contains("became", e.Message); }
        if (File.Exists(Checkpoint.ModelPath(dir.Path)))
            Assert.All(Checkpoint.Load(dir.Path).Parameters.Values, p => Assert.All(p, x => Assert.True(float.IsFinite(x))));
    }

    /// <summary>A one-epoch tiny run in <paramref name="dir"/>/run whose saved weights <paramref name="edit"/> then changes.</summary>
    static string RunWithEditedWeights(TempDir dir, Action<IReadOnlyDictionary<string, NamedTensor>> edit)
    {
        string run = dir["run"];
        Assert.Equal(0, RunToEnd(Tiny(run, 1)).Code);
        var (tensors, meta) = Safetensors.Read(Checkpoint.ModelPath(run));
        edit(tensors);
        Safetensors.Write(Checkpoint.ModelPath(run), tensors.Values, meta);
        return run;
    }

    [SkippableFact]
    public void HugeFiniteWeightsAreAnalyzedWithNullsForNumbersThatOverflow()
    {
        SyntheticData.SkipWithoutRealData();
        using var dir = new TempDir();
        string run = RunWithEditedWeights(dir, tensors => Array.Fill(tensors["encoder.mean.bias"].Data, 1e30f));
        var (code, output) = RunToEnd(new[] { "analyze", "--run", run, "--out", dir["a"], "--accelerator", "cpu", "--eval-images", "200" });
        Assert.DoesNotContain("unexpected", output);
        if (code == 0) Assert.True(File.Exists(Path.Combine(dir["a"], "report.json")));
        else AssertOneLineError(code, output, "error:");
    }

    /// <summary>Finite weights whose numbers overflow (sigma = exp(3e38)): evaluate and analyze refuse, naming the
    /// first value that is not finite, instead of reporting NaN as success; nothing is written.</summary>
    [SkippableFact]
    public void FiniteWeightsThatOverflowAreRefusedNamingTheFirstBadNumber()
    {
        SyntheticData.SkipWithoutRealData();
        using var dir = new TempDir();
        string run = RunWithEditedWeights(dir, tensors => tensors["encoder.std.bias"].Data[0] = 3e38f);
        foreach (var command in new[] { new[] { "evaluate", "--k", "2", "--images", "10", "--json" }, new[] { "analyze", "--eval-images", "50" } })
        {
            string output = dir[command[0]];
            var (code, text) = RunToEnd(command.Concat(new[] { "--run", run, "--out", output, "--accelerator", "cpu" }));
            AssertOneLineError(code, text, "sigma of test image 0, latent dimension 0, is Infinity");
            Assert.Contains("nothing was written", text);
            Assert.False(Directory.Exists(output) && Directory.EnumerateFiles(output).Any(f => Path.GetFileName(f) != RunLock.FileName),
                $"{command[0]} wrote files although it refused");
        }
    }

    /// <summary>A journal name or a save's file of the wrong kind (a file where a folder goes, or the reverse) is
    /// refused before the first batch, so no trained epoch is lost to a save that cannot be written.</summary>
    [SkippableFact]
    public void AJournalOrSaveEntryOfTheWrongKindIsRefusedBeforeTraining()
    {
        SyntheticData.SkipWithoutRealData();
        using var dir = new TempDir();
        string run = dir["run"];
        Assert.Equal(0, RunToEnd(Tiny(run, 1)).Code);
        var before = TempDir.Snapshot(run);
        void Refused(string expected, string? outDir = null)
        {
            var (code, output) = RunToEnd(outDir is null ? Tiny(run, 2, "--resume", run) : Tiny(outDir, 1));
            AssertOneLineError(code, output, expected);
            Assert.DoesNotContain("batch 1/", output);   // refused before training, not after
        }

        File.WriteAllText(Path.Combine(run, RunJournal.StagingFolder), "");
        Refused(".checkpoint-staging is a file where the save journal keeps a folder; delete it");
        File.Delete(Path.Combine(run, RunJournal.StagingFolder));

        Directory.CreateDirectory(Path.Combine(run, RunJournal.CommitFile));
        Refused(".checkpoint-commit is a folder where the save journal keeps a file; delete it");
        Directory.Delete(Path.Combine(run, RunJournal.CommitFile));
        Assert.Equal(before, TempDir.Snapshot(run));

        Directory.CreateDirectory(Path.Combine(dir["fresh"], Metrics.FileName));
        Refused("metrics.json is a folder where each epoch saves a file; move it away", dir["fresh"]);
        Assert.Equal(1, Checkpoint.Load(run).Epoch);
    }

    [Fact]
    public void AnEmptyOutFolderIsABadOption()
    {
        var (code, output) = RunToEnd(new[] { "train", "--out", "", "--accelerator", "cpu" });
        AssertOneLineError(code, output, "--out is empty");
    }

    [SkippableFact]
    public void AJournalNamingAFileOutsideTheRunIsRefusedAndMovesNothing()
    {
        using var dir = new TempDir();
        string run = dir["run"];
        TrainHere(run, 1);
        File.WriteAllText(dir["metrics.json"], "outside");
        Directory.CreateDirectory(Path.Combine(run, RunJournal.StagingFolder));
        File.WriteAllText(Path.Combine(run, RunJournal.StagingFolder, "x"), "staged");
        File.WriteAllText(Path.Combine(run, RunJournal.CommitFile), "../metrics.json");
        var e = Assert.Throws<VaeException>(() => TrainHere(run, 2, resume: run));
        Assert.Contains("corrupt save journal", e.Message);
        Assert.Equal("outside", File.ReadAllText(dir["metrics.json"]));
    }

    [Trait("Category", "Slow")]
    [SkippableFact]
    public void AReaderSeesTheCommittedSaveOfAnInterruptedWriterAndWritesNothingThere()
    {
        SyntheticData.SkipWithoutRealData();
        using var dir = new TempDir();
        string run = dir["run"];
        Assert.Equal(0, RunToEnd(Tiny(run, 1)).Code);
        // Killed right after the commit point: the epoch-2 save is committed but still staged.
        var (code, _) = RunToEnd(Tiny(run, 2, "--resume", run), crashAt: "committed");
        Assert.NotEqual(0, code);
        Assert.True(RunJournal.HasPendingCommit(run));
        var before = TempDir.Snapshot(run);

        (code, var output) = RunToEnd(new[] { "analyze", "--run", run, "--out", dir["a"], "--accelerator", "cpu", "--eval-images", "200" });
        Assert.True(code == 0, output);
        Assert.Contains("epoch 2", output);
        var report = File.ReadAllText(Path.Combine(dir["a"], "report.md"));
        Assert.Contains("epoch 2", report);
        Assert.Equal(before, TempDir.Snapshot(run));
        Assert.Equal(2, Checkpoint.ReadSave(run, forResume: true).Metrics!.Epochs.Count);
    }

    [SkippableFact]
    public void AModelAndMetricsOfDifferentSavesAreRefusedNamingBoth()
    {
        using var dir = new TempDir();
        string run = dir["run"], other = dir["other"];
        TrainHere(run, 1);
        TrainHere(other, 2);
        File.Copy(Path.Combine(other, Metrics.FileName), Path.Combine(run, Metrics.FileName), overwrite: true);
        var e = Assert.Throws<MixedSaveException>(() => Checkpoint.ReadSave(run, forResume: false));
        Assert.Contains("files of different saves", e.Message);
        Assert.Contains(Checkpoint.ModelPath(run), e.Message);
    }
}
