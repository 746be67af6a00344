using System.Text.Json.Nodes;
using Vae.Gpu.Data;
using Vae.Gpu.Devices;
using Vae.Gpu.Kernels.Reference;
using Vae.Gpu.Model;
using Vae.Gpu.Training;

namespace Vae.Gpu.Tests.Analysis;

/// <summary><c>vae-gpu evaluate</c> through the command line.</summary>
public class EvaluateCommandTests
{
    static string TinyRun(TempDir dir)
    {
        var device = TestDevices.Get(AcceleratorChoice.Cpu);
        new Trainer(new TrainOptions { OutDir = dir["run"], Epochs = 1, BatchSize = 8, C1 = 2, C2 = 3, Latent = 3, MaxBatches = 2 },
            new PlainObserver(TextWriter.Null)).Run(default, device, (SyntheticData.Make("train", 16, 1), SyntheticData.Make("test", 8, 2)));
        return dir["run"];
    }

    [SkippableFact]
    public void BadInputGetsOneLineAndWritesNothing()
    {
        using var dir = new TempDir();
        string run = TinyRun(dir);
        var (code, _, err) = Cli.CliTests.Run("evaluate", "--run", run, "--out", dir["e"], "--k", "0");
        Cli.CliTests.AssertOneLineError(code, err, "--k 0");
        (code, _, err) = Cli.CliTests.Run("evaluate", "--run", run, "--out", dir["e"], "--images", "0");
        Cli.CliTests.AssertOneLineError(code, err, "--images 0");
        (code, _, err) = Cli.CliTests.Run("evaluate", "--run", dir["none"], "--out", dir["e"]);
        Cli.CliTests.AssertOneLineError(code, err, "not found; train one first");
        (code, _, err) = Cli.CliTests.Run("run", "--out", dir["r"], "--k", "-3");
        Cli.CliTests.AssertOneLineError(code, err, "--k -3");
        Assert.False(Directory.Exists(dir["e"]));
        Assert.False(Directory.Exists(dir["r"]));
    }

    [SkippableFact]
    public void AModelWhoseShapesDoNotFitTheImagesIsRefusedByName()
    {
        using var dir = new TempDir();
        string run = TinyRun(dir);
        var (tensors, meta) = Vae.Gpu.IO.Safetensors.Read(Checkpoint.ModelPath(run));
        // A flatten size for 32x32 images: the heads no longer fit a 28x28 image's features.
        var w = tensors["encoder.mean.weight"];
        tensors["encoder.mean.weight"] = new Vae.Gpu.IO.NamedTensor(w.Name, new[] { w.Shape[0], w.Shape[1] + 7 }, new float[w.Shape[0] * (w.Shape[1] + 7)]);
        Vae.Gpu.IO.Safetensors.Write(Checkpoint.ModelPath(run), tensors.Values, meta);
        var (code, _, err) = Cli.CliTests.Run("evaluate", "--run", run, "--out", dir["e"], "--accelerator", "cpu");
        Cli.CliTests.AssertOneLineError(code, err, "encoder.mean.weight");
        Assert.False(Directory.Exists(dir["e"]));
    }

    [SkippableFact]
    public void JsonHoldsTheContractFieldsAndTheFilesAreWritten()
    {
        SyntheticData.SkipWithoutRealData();
        using var dir = new TempDir();
        string run = TinyRun(dir);
        var (code, stdout, err) = Cli.CliTests.Run("evaluate", "--run", run, "--out", dir["e"], "--images", "60", "--k", "3", "--json", "--accelerator", "cpu");
        Assert.True(code == 0, err);
        var json = JsonNode.Parse(stdout)!.AsObject();
        foreach (var field in new[] { "loss", "bce", "kl", "kl_per_dim", "elbo", "bce_floor", "active_units", "iwae", "classes" })
            Assert.True(json.ContainsKey(field), $"evaluate --json lacks {field}: {stdout}");
        double bce = (double)json["bce"]!, kl = (double)json["kl"]!;
        Assert.Equal(-(bce + kl), (double)json["elbo"]!, 6);
        Assert.Equal(bce + kl + 3 * 0.5 * Math.Log(2), (double)json["loss"]!, 6);
        Assert.Equal(3, json["kl_per_dim"]!.AsArray().Count);
        Assert.Equal(60, (int)json["iwae"]!["images"]!);
        Assert.Equal(3, (int)json["iwae"]!["k"]!);
        Assert.InRange((double)json["classes"]!["probe_accuracy"]!, 0, 1);
        Assert.InRange((double)json["bce_floor"]!, 100, bce);
        foreach (var file in new[] { "evaluation.json", "evaluation.md", "classes.png" }) Assert.True(File.Exists(Path.Combine(dir["e"], file)), file);
        Assert.Contains("![classes](classes.png)", File.ReadAllText(Path.Combine(dir["e"], "evaluation.md")));
    }
}
