using System.Text.Json;
using Vae.Gpu.Devices;
using Vae.Gpu.Diagnostics;
using Vae.Gpu.IO;
using Program = Vae.Gpu.Cli.Program;

namespace Vae.Gpu.Tests.Cli;

/// <summary>vae-gpu as a user runs it: exit codes, one-line errors, files untouched.</summary>
public class CliTests
{
    /// <summary>vae-gpu in this process, with its stdout and stderr captured.</summary>
    internal static (int Code, string Out, string Err) Run(params string[] args)
    {
        var (oldOut, oldErr) = (Console.Out, Console.Error);
        var (o, e) = (new StringWriter(), new StringWriter());
        Console.SetOut(o);
        Console.SetError(e);
        try { return (Program.Main(args), o.ToString(), e.ToString()); }
        finally { Console.SetOut(oldOut); Console.SetError(oldErr); }
    }

    internal static void AssertOneLineError(int code, string err, string expected)
    {
        Assert.NotEqual(0, code);
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one line on stderr, got: {err}");
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(expected, lines[0]);
        Assert.DoesNotContain("   at ", err);
    }

    [Fact]
    public void TheLabRunsOneVersionAtAShapeOfTheUsers()
    {
        var (code, output, err) = Run("lab", "--family", "conv", "--version", "v1", "--shape", "3,5,7,11,13,3", "--accelerator", "cpu", "--repeats", "2");
        Assert.True(code == 0, err);
        Assert.Contains("(3,5,11,13)*(7,5,3,3) +bias +relu", output);
        Assert.Single(output.Split('\n'), l => l.Contains("v1 Tiled"));
        Assert.Matches(@"v1 Tiled.*\s0\.\d{3}\s", output);
        (code, output, err) = Run("lab", "--family", "gemm", "--shape", "17,15,333", "--accelerator", "cpu", "--repeats", "2");
        Assert.True(code == 0, err);
        Assert.Contains("17x15x333", output);
        (code, _, err) = Run("lab", "--family", "weight-grad", "--shape", "2,3,4", "--accelerator", "cpu");
        AssertOneLineError(code, err, "--shape '2,3,4' is not batch,in,out,height,width,kernel");
        (code, _, err) = Run("lab", "--family", "conv", "--shape", "1,1,1,2,2,3", "--accelerator", "cpu");
        AssertOneLineError(code, err, "a 3x3 kernel leaves nothing of a 2x2 input");
    }

    [Fact]
    public void TheLabValidatesThenTimesOneVersionAtOneCallOfTheStep()
    {
        string[] small = { "--accelerator", "cpu", "--batch", "3", "--c1", "4", "--c2", "6", "--latent", "3", "--repeats", "2" };
        var (code, listed, err) = Run(new[] { "lab", "--family", "gemm", "--list" }.Concat(small).ToArray());
        Assert.True(code == 0, err);
        var calls = listed.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.TrimStart().StartsWith("1 ") || char.IsDigit(l.TrimStart()[0])).ToList();
        Assert.True(calls.Count >= 4, listed);   // the heads, the decoder's linear layer, and their gradients

        (code, var json, err) = Run(new[] { "lab", "--family", "gemm", "--version", "RegisterTiled", "--call", "2", "--json" }.Concat(small).ToArray());
        Assert.True(code == 0, err);
        var rows = System.Text.Json.Nodes.JsonNode.Parse(json)!.AsArray();
        var row = Assert.Single(rows)!;
        Assert.Equal(1, row["version"]!.GetValue<int>());
        Assert.Equal("RegisterTiled", row["kernel"]!.GetValue<string>());
        // The second call of the list, validated against the reference, then timed.
        Assert.Equal(calls[1].Trim()[1..].Trim(), row["shape"]!.GetValue<string>());
        Assert.InRange(row["error"]!.GetValue<double>(), 0, 1);
        Assert.True(row["median_ms"]!.GetValue<double>() > 0);
        Assert.True(row["gflop_per_second"]!.GetValue<double>() > 0);
        Assert.Contains("lab on cpu", err);
        Assert.DoesNotContain("cold caches", err);

        // Cold: the caches flushed before each timed call (as the training step finds its data), results the same.
        (code, json, err) = Run(new[] { "lab", "--family", "gemm", "--version", "RegisterTiled", "--call", "2", "--cold", "--json" }.Concat(small).ToArray());
        Assert.True(code == 0, err);
        row = Assert.Single(System.Text.Json.Nodes.JsonNode.Parse(json)!.AsArray())!;
        Assert.InRange(row["error"]!.GetValue<double>(), 0, 1);
        Assert.True(row["median_ms"]!.GetValue<double>() > 0);
        Assert.Contains($"each after {KernelHarness.ColdBytes >> 20} MiB written (cold caches)", err);

        (code, _, err) = Run(new[] { "lab", "--family", "convolution" }.Concat(small).ToArray());
        AssertOneLineError(code, err, "--family 'convolution' is unknown; use conv, weight-grad, gemm");
        (code, _, err) = Run(new[] { "lab", "--family", "conv", "--version", "v10" }.Concat(small).ToArray());
        AssertOneLineError(code, err, "conv has no version 'v10'; its versions are v1 Tiled, v2 Coalesced");
        (code, _, err) = Run(new[] { "lab", "--family", "weight-grad", "--call", "99" }.Concat(small).ToArray());
        AssertOneLineError(code, err, "call 99 is out of range: a training step makes");
    }

    /// <summary>The library's errors name parameters by their API names; the CLI must have an option for each.</summary>
    [Fact]
    public void EveryParameterTheLibrarysErrorsNameHasAnOption()
    {
        var named = Directory.GetFiles(Path.Combine(Interop.Repo.Root, "src", "Vae.Gpu"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}"))
            .SelectMany(f => VaeException.Parameters(File.ReadAllText(f))).ToHashSet();
        Assert.True(named.Count >= 15, $"found only {named.Count} parameters: {string.Join(", ", named)}");
        foreach (var parameter in named)
            Assert.True(Program.Options.ContainsKey(parameter), $"the library names «{parameter}» in an error, but the CLI maps no option to it (Program.Options)");
        // Through the CLI, a library error reads in options.
        var (code, _, err) = Run("train", "--out", "x", "--epochs", "0");
        AssertOneLineError(code, err, "--epochs 0 is out of range; use 1..10000");
    }

    [Theory]
    [InlineData("--c1", "abc", "Cannot parse argument 'abc' for option '--c1' as a whole number")]
    [InlineData("--batch", "1.5", "Cannot parse argument '1.5' for option '--batch' as a whole number")]
    [InlineData("--lr", "fast", "Cannot parse argument 'fast' for option '--lr' as a number")]
    public void AnOptionThatDoesNotParseIsNamedInWordsNotDotNetTypes(string option, string value, string expected)
    {
        using var dir = new TempDir();
        var (code, _, err) = Run("train", "--out", dir["run"], option, value);
        AssertOneLineError(code, err, expected);
        Assert.DoesNotContain("System.", err);
    }

    /// <summary>More test images than the test set holds is refused before any work, and a refused command
    /// leaves no folder of its own behind.</summary>
    [SkippableFact]
    public void MoreImagesThanTheTestSetHoldsAreRefusedAndLeaveNoFolder()
    {
        SyntheticData.SkipWithoutRealData();
        using var dir = new TempDir();
        var (code, _, err) = Run(CliProcess.Tiny(dir["run"], 1).ToArray());
        Assert.True(code == 0, err);
        (code, _, err) = Run("evaluate", "--run", dir["run"], "--out", dir["e"], "--images", "10001", "--accelerator", "cpu");
        AssertOneLineError(code, err, "--images 10001 is more than the 10,000 test images; leave it out to evaluate all of them");
        Assert.False(Directory.Exists(dir["e"]), "the refused evaluate left its --out folder behind");
        (code, _, err) = Run("analyze", "--run", dir["run"], "--out", dir["a"], "--eval-images", "10001", "--accelerator", "cpu");
        AssertOneLineError(code, err, "--eval-images 10001 is more than the 10,000 test images");
        Assert.False(Directory.Exists(dir["a"]), "the refused analyze left its --out folder behind");
    }

    /// <summary>./run.sh --help says what run.sh itself does and reads, then vae-gpu run's options, and sets nothing up.</summary>
    [Fact]
    public void RunShHelpDescribesItselfAndSetsNothingUp()
    {
        var (code, output) = Interop.Repo.Run("bash", "run.sh --help", 120);
        Assert.True(code == 0, output);
        Assert.StartsWith("usage: ./run.sh", output);
        foreach (var expected in new[] { "OUT=DIR", "VAE_GPU_RUN_CPU=1", "dataset-fashion-mnist", "scripts/with-pocl", "vae-gpu run [options]", "--epochs" })
            Assert.Contains(expected, output);
        Assert.DoesNotContain("run.sh: ", output);      // no accelerator picked, nothing installed or built into a root
        Assert.DoesNotContain("with-pocl: ", output);
    }

    [SkippableFact]
    public void APtxasThatCannotBeRunIsOneLine()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "file modes");
        using var dir = new TempDir();
        File.WriteAllText(dir["ptxas"], "not a program");   // no execute bit
        var (code, _, err) = Run("ptx", "--ptxas", dir["ptxas"]);
        AssertOneLineError(code, err, $"ptxas {dir["ptxas"]} cannot be run (Permission denied); make it executable (chmod +x)");
        Assert.DoesNotContain("Win32", err);
    }

    [Fact]
    public void UnknownAcceleratorIsNamed()
    {
        using var dir = new TempDir();
        var (code, _, err) = Run("train", "--out", dir["o"], "--accelerator", "tpu");
        AssertOneLineError(code, err, "--accelerator 'tpu' is unknown; use auto, cuda, opencl or cpu");
    }

    [SkippableFact]
    public void AnAbsentAcceleratorNamesThePresentOnes()
    {
        Skip.If(ComputeDevice.IsPresent(AcceleratorChoice.Cuda), "this machine has CUDA");
        var (code, _, err) = Run("bench", "--accelerator", "cuda");
        var present = string.Join(", ", ComputeDevice.List().Select(d => d.Type).Distinct());
        AssertOneLineError(code, err, $"no Cuda accelerator on this machine (present: {present})");
    }

    [Theory]
    [InlineData("train --out o --bogus", "Unrecognized command or argument '--bogus'; see vae-gpu train --help")]
    [InlineData("train --out o --epochs many", "Cannot parse argument 'many' for option '--epochs'")]
    [InlineData("train", "Option '--out' is required; see vae-gpu train --help")]
    [InlineData("frobnicate", "Unrecognized command or argument 'frobnicate'; see vae-gpu --help")]
    public void ABadOptionOrValueIsOneLineNotTheHelpPage(string commandLine, string expected)
    {
        using var dir = new TempDir();
        var (code, output, err) = Run(commandLine.Split(' ').Select(a => a == "o" ? dir["o"] : a).ToArray());
        AssertOneLineError(code, err, expected);
        Assert.Equal("", output);
        Assert.False(Directory.Exists(dir["o"]));
    }

    [Fact]
    public void HelpShowsEachOptionsRangeAndDefault()
    {
        var (code, output, _) = Run("train", "--help");
        Assert.Equal(0, code);
        foreach (var expected in new[] { "1..10000", "[default: 15]", "1..60000", "[default: 128]", "2..4096", "[default: 16", "1..64", "[default: 3", "[default: 0.001]", "[default: whole epochs]", "[default: seed" })
            Assert.Contains(expected, output);
        (code, output, _) = Run("--version");
        Assert.Equal(0, code);
        Assert.Matches(@"^\d+\.\d+\.\d+\s*$", output);
    }

    [Theory]
    [InlineData("--kernel", "65", "--kernel 65 is out of range")]
    [InlineData("--kernel", "15", "28x28 images are too small for 2 15x15 convolutions, which need at least 29x29; use larger images, fewer layers or a smaller --kernel")]
    [InlineData("--channels", "4,0,8", "--channels '4,0,8': entry 2 ('0') is not a whole number")]
    [InlineData("--channels", "4,x", "--channels '4,x': entry 2")]
    [InlineData("--beta", "-0.5", "--beta -0.5 must be a finite number of at least 0")]
    [InlineData("--latent", "0", "--latent 0 is out of range")]
    [InlineData("--latent", "1", "--latent 1 is out of range; use 2..4096")]
    [InlineData("--batch", "-4", "--batch -4 is out of range")]
    [InlineData("--lr", "0", "--lr 0 is out of range")]
    [InlineData("--epochs", "0", "--epochs 0 is out of range")]
    [InlineData("--c2", "5000", "--c2 5000 is out of range")]
    public void BadHyperparametersFailBeforeAnythingIsWritten(string option, string value, string expected)
    {
        using var dir = new TempDir();
        var (code, _, err) = Run("train", "--out", dir["o"], option, value);
        AssertOneLineError(code, err, expected);
        Assert.False(Directory.Exists(dir["o"]));
    }

    [Fact]
    public void MissingDataAndUnwritableOutputAreClear()
    {
        using var dir = new TempDir();
        var (code, _, err) = Run("train", "--out", dir["o"], "--data", dir["no-data"]);
        AssertOneLineError(code, err, "no such file or folder");
        Assert.False(Directory.Exists(dir["o"]), "--out was created before the data was checked");
        Environment.SetEnvironmentVariable("FASHION_MNIST_DIR", dir["typo"]);
        try
        {
            (code, _, err) = Run("train", "--out", dir["o"]);
            AssertOneLineError(code, err, $"$FASHION_MNIST_DIR {dir["typo"]}: no such file or folder");
            Assert.False(Directory.Exists(dir["o"]));
        }
        finally { Environment.SetEnvironmentVariable("FASHION_MNIST_DIR", null); }
        File.WriteAllText(dir["file"], "x");
        (code, _, err) = Run("train", "--out", Path.Combine(dir["file"], "o"));
        AssertOneLineError(code, err, "cannot write to output directory");
    }

    [Fact]
    public void CorruptCheckpointsFailAnalyzeAndResumeAndAreLeftAsTheyWere()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir["model.safetensors"], new byte[] { 8, 0, 0, 0, 0, 0, 0, 0, (byte)'{', (byte)'x' });
        var before = TempDir.Snapshot(dir.Path);
        var (code, _, err) = Run("analyze", "--run", dir.Path, "--out", dir["a"]);
        AssertOneLineError(code, err, "corrupt checkpoint");
        (code, _, err) = Run("train", "--out", dir.Path, "--resume", dir.Path, "--epochs", "2");
        AssertOneLineError(code, err, "corrupt checkpoint");
        (code, _, err) = Run("analyze", "--run", dir["missing"], "--out", dir["a"]);
        AssertOneLineError(code, err, "not found; train one first");
        Assert.Equal(before, TempDir.Snapshot(dir.Path));
    }

    [Fact]
    public void DevicesJsonListsTheCpu()
    {
        var (code, output, _) = Run("devices", "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(output);
        Assert.Contains(doc.RootElement.EnumerateArray(), d => d.GetProperty("type").GetString() == "cpu" && d.GetProperty("max_group_size").GetInt32() >= 4);
    }

    [Trait("Category", "Slow")]
    [Fact]
    public void CheckAgreesOnEveryAcceleratorPresentAndAcrossThem()
    {
        var (code, output, _) = Run("check", "--seed", "4");
        Assert.Equal(0, code);
        Assert.Contains("all kernels agree with the reference", output);
        Assert.Contains("cpu     weight-grad v1 Tiled", output);
        Assert.Matches(@"cpu +gemm v2 SharedTiled \S.* not run: needs 256-thread groups", output);
        foreach (var choice in new[] { AcceleratorChoice.Cuda, AcceleratorChoice.OpenCL })
        {
            string name = choice.ToString().ToLowerInvariant();
            if (ComputeDevice.IsPresent(choice))
            {
                Assert.Contains($"{name,-7} weight-grad v1 Tiled", output);
                Assert.Contains($"{name} vs cpu weight-grad v1 Tiled", output.Replace("  ", " ").Replace("  ", " "));
            }
            else
                Assert.Contains($"{name,-7} absent, skipped", output);
        }
    }

    [SkippableFact]
    public void TrainOnRealDataWritesTheContractFiles()
    {
        SyntheticData.SkipWithoutRealData();
        using var dir = new TempDir();
        var (code, output, err) = Run("train", "--out", dir.Path, "--epochs", "1", "--max-batches", "2", "--batch", "32", "--accelerator", "cpu", "--c1", "4", "--c2", "8");
        Assert.True(code == 0, err);
        Assert.Contains("Training loss [1/1]: ", output);
        Assert.Contains("Accelerator: cpu", output);
        using var metrics = JsonDocument.Parse(File.ReadAllText(dir["metrics.json"]));
        var epoch = metrics.RootElement.GetProperty("epochs")[0];
        foreach (var field in new[] { "epoch", "train_loss", "test_loss", "images_per_second", "seconds" })
            Assert.True(epoch.TryGetProperty(field, out _), $"metrics.json lacks {field}");
        Assert.StartsWith("cpu", metrics.RootElement.GetProperty("accelerator").GetString());
        var (tensors, meta) = Safetensors.Read(dir["model.safetensors"]);
        Assert.Equal(14, tensors.Count);
        Assert.Equal(new[] { 8, 4, 3, 3 }, tensors["decoder.deconv1.weight"].Shape);
        Assert.Equal(new[] { 16, 8 * 24 * 24 }, tensors["encoder.mean.weight"].Shape);
        Assert.Equal("1", meta["epoch"]);
    }
}
