using Vae.Gpu.Data;
using Vae.Gpu.Devices;
using Vae.Gpu.IO;
using Vae.Gpu.Model;
using Vae.Gpu.Optim;
using Vae.Gpu.Tensors;
using Vae.Gpu.Training;

namespace Vae.Gpu.Tests.Training;

/// <summary>The trainer, checkpoints and their failure modes, on the CPU accelerator with small synthetic data.</summary>
public class TrainerTests
{
    static readonly (Split, Split) Tiny = (SyntheticData.Make("train", 96, 1), SyntheticData.Make("test", 40, 2));

    static TrainOptions Options(string outDir, int epochs = 1) => new()
    {
        OutDir = outDir, Epochs = epochs, BatchSize = 16, C1 = 4, C2 = 6, Latent = 3, MaxBatches = 3, Seed = 3, Accelerator = AcceleratorChoice.Cpu,
    };

    static Trainer.Result Train(TrainOptions o, CancellationToken cancel = default) =>
        new Trainer(o, new PlainObserver(TextWriter.Null)).Run(cancel, TestDevices.Get(AcceleratorChoice.Cpu), Tiny);

    [SkippableFact]
    public void CheckpointRoundTripGivesIdenticalOutputs()
    {
        var device = TestDevices.Get(AcceleratorChoice.Cpu);
        using var dir = new TempDir();
        Train(Options(dir.Path));
        var checkpoint = Checkpoint.Load(dir.Path);
        Assert.Equal(1, checkpoint.Epoch);
        Assert.Equal(new VaeConfig(4, 6, 3, 3), checkpoint.Config);

        using var a = checkpoint.CreateModel(device);
        using var b = Checkpoint.Load(dir.Path).CreateModel(device);
        var x = SyntheticData.Make("x", 4, 9).Pixels.Select(p => p / 255f).ToArray();
        using var xt = Tensor.FromArray(device, x, 4, 1, 28, 28);
        var ya = a.Forward(xt).ToArray();
        float la = a.Loss;
        var yb = b.Forward(xt).ToArray();
        Assert.Equal(ya, yb);
        Assert.Equal(la, b.Loss);
        Assert.All(ya, v => Assert.InRange(v, 0f, 1f));
    }

    [SkippableFact]
    public void ResumeContinuesAtTheNextEpochWithAdamState()
    {
        using var dir = new TempDir();
        using var straight = new TempDir();
        Train(Options(dir.Path, epochs: 1));
        var resumed = Train(Options(dir.Path, epochs: 2) with { ResumeDir = dir.Path });
        Assert.Equal(new[] { 1, 2 }, resumed.Metrics.Epochs.Select(e => e.Epoch));
        Assert.Equal(2, Checkpoint.Load(dir.Path).Epoch);
        Assert.Equal(6, Checkpoint.Load(dir.Path, readOptimizer: true).Optimizer!.Step);

        // Two epochs straight give the same weights: the shuffle, noise counter and Adam state all carried over.
        Train(Options(straight.Path, epochs: 2));
        Assert.Equal(Checkpoint.Load(straight.Path).Parameters["decoder.linear.weight"], Checkpoint.Load(dir.Path).Parameters["decoder.linear.weight"]);
    }

    [SkippableFact]
    public void ANonFiniteLossStopsNamingEpochAndBatchAndLeavesTheCheckpointIntact()
    {
        using var dir = new TempDir();
        Train(Options(dir.Path));
        // Finite weights whose log sigma overflows exp: the very next loss is not finite (a NaN weight itself
        // is refused before training, see SavedWorkFaultTests).
        var (tensors, meta) = Safetensors.Read(Checkpoint.ModelPath(dir.Path));
        Array.Fill(tensors["encoder.std.bias"].Data, 1e30f);
        Safetensors.Write(Checkpoint.ModelPath(dir.Path), tensors.Values, meta);
        var before = TempDir.Snapshot(dir.Path);

        var e = Assert.Throws<VaeException>(() => Train(Options(dir.Path, epochs: 2) with { ResumeDir = dir.Path }));
        Assert.Matches(@"the loss became (NaN|-?∞|-?Infinity) at epoch 2, batch 1", e.Message);
        Assert.Contains("the resumed run keeps its LearningRate", e.Message);
        Assert.Equal(before, TempDir.Snapshot(dir.Path));
    }

    [SkippableFact]
    public void CancellationFinishesTheBatchSavesAndStops()
    {
        using var dir = new TempDir();
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        var result = Train(Options(dir.Path, epochs: 3), cancel.Token);
        Assert.True(result.Cancelled);
        var checkpoint = Checkpoint.Load(dir.Path, readOptimizer: true);
        Assert.Equal(0, checkpoint.Epoch);
        Assert.Equal(1, checkpoint.Optimizer!.Step); // exactly one batch ran
        var resumed = Train(Options(dir.Path, epochs: 1) with { ResumeDir = dir.Path });
        Assert.Single(resumed.Metrics.Epochs);
    }

    /// <summary>The library names a bad value by its API name; the CLI renders the same error with its option.</summary>
    [Theory]
    [InlineData("epochs", "Epochs 0", "--epochs 0")]
    [InlineData("batch", "BatchSize 0", "--batch 0")]
    [InlineData("lr", "LearningRate -1", "--lr -1")]
    [InlineData("kernel", "Kernel 65", "--kernel 65")]
    [InlineData("beta", "Beta -1", "--beta -1")]
    [InlineData("channels", "Channels has 17 layers", "--channels has 17 layers")]
    [InlineData("fraction", "TestFraction 1", "--test-fraction 1")]
    [InlineData("latent", "Latent 0", "--latent 0")]
    [InlineData("c1", "C1 0", "--c1 0")]
    [InlineData("kl", "Kl 'weird'", "--kl 'weird'")]
    [InlineData("maxbatches", "MaxBatches 0", "--max-batches 0")]
    public void BadOptionsAreNamed(string which, string expected, string onTheCommandLine)
    {
        var o = new TrainOptions { OutDir = "unused" };
        o = which switch
        {
            "epochs" => o with { Epochs = 0 },
            "batch" => o with { BatchSize = 0 },
            "lr" => o with { LearningRate = -1 },
            "kernel" => o with { Kernel = 65 },
            "beta" => o with { Beta = -1 },
            "channels" => o with { Channels = Enumerable.Repeat(4, 17).ToArray() },
            "fraction" => o with { TestFraction = 1 },
            "latent" => o with { Latent = 0 },
            "c1" => o with { C1 = 0 },
            "kl" => o with { Kl = "weird" },
            _ => o with { MaxBatches = 0 },
        };
        var e = Assert.Throws<VaeException>(o.Validate);
        Assert.StartsWith(expected, e.Message);
        Assert.DoesNotContain("--", e.Message);
        Assert.StartsWith(onTheCommandLine, e.Render(p => Vae.Gpu.Cli.Program.Options[p]));
    }

    [SkippableFact]
    public void ResumeWithConflictingShapesOrIntoAnUnwritableFolderChangesNothing()
    {
        using var dir = new TempDir();
        Train(Options(dir.Path));
        var before = TempDir.Snapshot(dir.Path);
        var e = Assert.Throws<VaeException>(() => Train(Options(dir.Path, epochs: 2) with { ResumeDir = dir.Path, C1 = 8 }));
        Assert.Contains("C1 8 disagrees with the checkpoint", e.Message);
        e = Assert.Throws<VaeException>(() => Train(Options(dir.Path, epochs: 1) with { ResumeDir = dir.Path }));
        Assert.Contains("already trained 1 epochs", e.Message);
        string blocker = Path.Combine(dir.Path, "metrics.json");
        e = Assert.Throws<VaeException>(() => Train(Options(Path.Combine(blocker, "out"), epochs: 2) with { ResumeDir = dir.Path }));
        Assert.Contains("cannot write to output directory", e.Message);
        Assert.Equal(before, TempDir.Snapshot(dir.Path));
    }

    [SkippableFact]
    public void CheckpointWithWrongShapesIsRejected()
    {
        using var dir = new TempDir();
        Train(Options(dir.Path));
        var (tensors, meta) = Safetensors.Read(Checkpoint.ModelPath(dir.Path));
        meta["c2"] = "7";
        Safetensors.Write(Checkpoint.ModelPath(dir.Path), tensors.Values, meta);
        var e = Assert.Throws<VaeException>(() => Checkpoint.Load(dir.Path));
        Assert.Contains("encoder.conv2.weight is [6,4,3,3] but c1=4 c2=7", e.Message);
    }

    [Trait("Category", "Slow")]
    [SkippableFact]
    public void FortyBatchesOfRealDataLowerTheLossWellBelowItsStart()
    {
        var dataDir = SyntheticData.RealDataDir;
        Skip.If(dataDir is null, "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist); CI installs it");
        // About learning, not an accelerator: the fastest one present (OpenCL is ~5x the CPU accelerator here).
        var device = TestDevices.Get(ComputeDevice.IsPresent(AcceleratorChoice.OpenCL) ? AcceleratorChoice.OpenCL : AcceleratorChoice.Cpu);
        var train = FashionMnist.LoadSplit(dataDir!, "train", 60_000);
        using var data = new DeviceDataset(device, train);
        using var vae = new Vae.Gpu.Model.VAE(device, new VaeConfig(), seed: 0);
        using var adam = new Adam(vae.Parameters);
        data.Shuffle(0, 1);
        var losses = new List<float>();
        for (int b = 0; b < 40; b++)
        {
            var x = data.Batch(b, 128);
            adam.ZeroGrad();
            vae.Forward(x);
            losses.Add(vae.Loss / x.Shape[0]);
            vae.Backward();
            adam.Step();
        }
        double start = losses.Take(3).Average(), end = losses.TakeLast(5).Average();
        Assert.True(end < 0.85 * start, $"loss per image went from {start:F1} to {end:F1} in 40 batches");
    }
}
