using System.Diagnostics;
using Vae.Gpu.Devices;
using Vae.Gpu.IO;
using Vae.Gpu.Training;

namespace Vae.Gpu.Tests.Interop;

/// <summary>
/// PyTorch both ways: a Vae.Gpu run loads into the problem set's PyTorch classes (examples/pytorch) and gives
/// the same images; a state_dict PyTorch saved is analyzed by vae-gpu and gives what PyTorch computes.
/// </summary>
[Trait("Category", "Slow")]
public class PyTorchInteropTests
{
    /// <summary>Both compute in float32 with sums in different orders; images lie in [0, 1].</summary>
    const double Tolerance = 1e-5;

    /// <summary>examples/pytorch/oracle.py's WRONG_ORACLE_EXIT: PyTorch computes its own convolutions wrong here.</summary>
    internal const int WrongOracleExit = 3;

    internal static string Example(string name) => Path.Combine(Repo.Root, "examples", "pytorch", name);

    /// <summary>
    /// Runs an oracle script (examples/pytorch) to its end. Where the oracle finds PyTorch wrong on this CPU the
    /// test fails with the oracle's own line, never as a difference between PyTorch and Vae.Gpu.
    /// </summary>
    internal static (int Code, string Output) RunOracle(string script, string arguments, params (string Name, string Value)[] environment)
    {
        var psi = new ProcessStartInfo("python3", $"\"{Example(script)}\" {arguments}") { WorkingDirectory = Repo.Root };
        foreach (var (name, value) in environment) psi.Environment[name] = value;
        var (code, output) = Repo.Run(psi, 300);
        if (code == WrongOracleExit) Assert.Fail(output.Trim());
        return (code, output);
    }

    /// <summary>Runs examples/pytorch/reproduce.py and asserts its outputs match Vae.Gpu's within the tolerance.</summary>
    static void AssertPyTorchReproduces(string runDir, string analysisDir, string outDir)
    {
        var (code, output) = RunOracle("reproduce.py", $"\"{runDir}\" \"{analysisDir}\" \"{outDir}\"");
        Assert.True(code == 0, output);
        foreach (var file in new[] { "traverse-7x7.npy", "reconstructions.npy" })
        {
            var theirs = Npy.Read(Path.Combine(outDir, file));
            var ours = Npy.Read(Path.Combine(analysisDir, file));
            Assert.Equal(ours.Shape, theirs.Shape);
            double worst = ours.Data.Zip(theirs.Data).Max(p => Math.Abs(p.First - p.Second));
            Assert.True(worst <= Tolerance, $"{file}: PyTorch and Vae.Gpu differ by {worst:E2}\n{output}");
            Assert.True(ours.Data.Distinct().Count() > 100, $"{file} is nearly constant, so agreeing proves little");
        }
        var mu = Npy.Read(Path.Combine(outDir, "mu.npy"));
        var ourMu = Npy.Read(Path.Combine(analysisDir, "mu.npy")).Data.Take(mu.Data.Length).ToArray();
        double scale = ourMu.Max(Math.Abs);
        double muError = ourMu.Zip(mu.Data).Max(p => Math.Abs(p.First - p.Second)) / scale;
        Assert.True(muError <= 1e-5, $"mu: PyTorch and Vae.Gpu differ by {muError:E2} (relative)\n{output}");
    }

    [SkippableFact]
    public void AVaeGpuRunLoadsIntoThePyTorchClassesAndGivesTheSameImages()
    {
        Skip.If(Repo.PyTorchMissing is not null, Repo.PyTorchMissing);
        SyntheticData.SkipWithoutRealData();
        using var dir = new TempDir();
        var (code, _, err) = Cli.CliTests.Run("run", "--out", dir.Path, "--epochs", "1", "--max-batches", "3", "--batch", "32",
            "--c1", "4", "--c2", "8", "--latent", "5", "--accelerator", "cpu", "--eval-images", "200");
        Assert.True(code == 0, err);
        AssertPyTorchReproduces(dir.Path, dir.Path, dir["pytorch"]);
    }

    /// <summary>An IDX folder of 48x48 gray images (a bright disc on a dark ground): FER2013's size.</summary>
    static string Write48(TempDir dir)
    {
        var rng = new Random(48);
        byte[] Images(int n)
        {
            var pixels = new byte[n * 48 * 48];
            for (int i = 0; i < n; i++)
            {
                int cx = rng.Next(12, 36), cy = rng.Next(12, 36), r = rng.Next(5, 14);
                for (int y = 0; y < 48; y++)
                    for (int x = 0; x < 48; x++)
                        pixels[i * 2304 + y * 48 + x] = (byte)((x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r ? rng.Next(150, 256) : rng.Next(0, 30));
            }
            return pixels;
        }
        Directory.CreateDirectory(dir["d48"]);
        Vae.Gpu.Data.Idx.WriteImages(dir["d48/train-images-idx3-ubyte.gz"], 192, 48, 48, Images(192));
        Vae.Gpu.Data.Idx.WriteLabels(dir["d48/train-labels-idx1-ubyte.gz"], Enumerable.Range(0, 192).Select(i => (byte)(i % 7)).ToArray());
        Vae.Gpu.Data.Idx.WriteImages(dir["d48/t10k-images-idx3-ubyte.gz"], 64, 48, 48, Images(64));
        Vae.Gpu.Data.Idx.WriteLabels(dir["d48/t10k-labels-idx1-ubyte.gz"], Enumerable.Range(0, 64).Select(i => (byte)(i % 7)).ToArray());
        return dir["d48"];
    }

    /// <summary>
    /// The notebook's model, four conv layers on 48x48 images, both ways: a Vae.Gpu run (notebook tensor names)
    /// loads strictly into the notebook's PyTorch classes and gives the same images and evaluation; a state_dict
    /// PyTorch saved from those classes is analyzed by vae-gpu and PyTorch reproduces its figures.
    /// </summary>
    [SkippableFact]
    public void AFourLayerNotebookModelOn48x48ImagesRoundTripsBothWays()
    {
        Skip.If(Repo.PyTorchMissing is not null, Repo.PyTorchMissing);
        using var dir = new TempDir();
        string data = Write48(dir);
        var (code, _, err) = Cli.CliTests.Run("run", "--out", dir["run"], "--data", data, "--channels", "4,6,6,5", "--latent", "5", "--epochs", "1",
            "--batch", "32", "--accelerator", "cpu", "--eval-images", "64", "--no-tune");
        Assert.True(code == 0, err);
        AssertPyTorchReproduces(dir["run"], dir["run"], dir["pytorch"]);
        (code, var ours, err) = Cli.CliTests.Run("evaluate", "--run", dir["run"], "--out", dir["e"], "--k", "4", "--json", "--accelerator", "cpu");
        Assert.True(code == 0, err);
        var (pyCode, theirs) = RunOracle("evaluate.py", $"\"{dir["run"]}\" \"{data}\" --images 64 --k 4");
        Assert.True(pyCode == 0, theirs);
        double Num(string json, string field) => System.Text.Json.Nodes.JsonNode.Parse(json)![field]!.GetValue<double>();
        foreach (var field in new[] { "loss", "bce", "kl", "bce_floor" })
            Assert.True(Math.Abs(Num(ours, field) - Num(theirs, field)) <= 5e-3, $"{field}: Vae.Gpu {Num(ours, field)}, PyTorch {Num(theirs, field)}");

        var (saved, savedOut) = Repo.Run("python3", $"\"{Example("save_state_dict.py")}\" \"{dir["torch"]}\" --channels 1,4,6,6,5 --size 48 --lat 5 --k 3 --seed 2");
        Assert.True(saved == 0, savedOut);
        (code, _, err) = Cli.CliTests.Run("analyze", "--run", dir["torch"], "--out", dir["torch-analysis"], "--data", data, "--accelerator", "cpu", "--eval-images", "64");
        Assert.True(code == 0, err);
        AssertPyTorchReproduces(dir["torch"], dir["torch-analysis"], dir["torch-pytorch"]);
    }

    /// <summary>
    /// examples/pytorch/evaluate.py computes the evaluation from the definitions with the problem set's PyTorch
    /// model and the same counter-based noise: every number agrees to float rounding, so the IWAE bound lies far
    /// inside its standard error of the other's, and the probe at most a near tie apart.
    /// </summary>
    [SkippableTheory, MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void EvaluateAgreesWithThePyTorchImplementation(AcceleratorChoice choice)
    {
        Skip.If(Repo.PyTorchMissing is not null, Repo.PyTorchMissing);
        SyntheticData.SkipWithoutRealData();
        TestDevices.Get(choice);
        using var dir = new TempDir();
        var (code, _, err) = Cli.CliTests.Run("train", "--out", dir["run"], "--epochs", "1", "--max-batches", "4", "--batch", "32",
            "--c1", "4", "--c2", "8", "--latent", "5", "--accelerator", "cpu");
        Assert.True(code == 0, err);
        const int images = 300, k = 8;
        (code, var ours, err) = Cli.CliTests.Run("evaluate", "--run", dir["run"], "--out", dir["e"], "--images", $"{images}", "--k", $"{k}",
            "--json", "--accelerator", choice.ToString().ToLowerInvariant());
        Assert.True(code == 0, err);
        var (pyCode, theirs) = RunOracle("evaluate.py", $"\"{dir["run"]}\" \"{SyntheticData.RealDataDir}\" --images {images} --k {k}");
        Assert.True(pyCode == 0, theirs);
        var a = System.Text.Json.Nodes.JsonNode.Parse(ours)!;
        var b = System.Text.Json.Nodes.JsonNode.Parse(theirs)!;
        double Num(System.Text.Json.Nodes.JsonNode n, string path) => path.Split('.').Aggregate(n, (x, p) => x[p]!).GetValue<double>();
        // Sums of 784 float32 log terms per image, a few hundred nats: rounding of about 1e-4.
        foreach (var field in new[] { "loss", "bce", "kl", "elbo", "iwae.bound" })
            Assert.True(Math.Abs(Num(a, field) - Num(b, field)) <= 2e-3, $"{field}: Vae.Gpu {Num(a, field)}, PyTorch {Num(b, field)}");
        Assert.True(Math.Abs(Num(a, "iwae.bound") - Num(b, "iwae.bound")) <= 0.01 * Num(b, "iwae.stderr"));
        Assert.Equal(Num(b, "iwae.stderr"), Num(a, "iwae.stderr"), 3);
        Assert.Equal(Num(b, "bce_floor"), Num(a, "bce_floor"), 6);
        var klA = a["kl_per_dim"]!.AsArray().Select(x => x!.GetValue<double>()).ToArray();
        var klB = b["kl_per_dim"]!.AsArray().Select(x => x!.GetValue<double>()).ToArray();
        Assert.Equal(5, klA.Length);
        for (int d = 0; d < 5; d++) Assert.True(Math.Abs(klA[d] - klB[d]) <= 1e-4, $"kl_per_dim[{d}]: {klA[d]} vs {klB[d]}");
        Assert.Equal(b["active_units"]!.GetValue<int>(), a["active_units"]!.GetValue<int>());
        Assert.True(Math.Abs(Num(a, "classes.probe_accuracy") - Num(b, "classes.probe_accuracy")) <= 2.0 / images);
        Assert.True(Num(a, "iwae.bound") > Num(a, "elbo"), "with k = 8 the bound should lie above the ELBO");
    }

    [SkippableFact]
    public void AStateDictSavedByPyTorchIsAnalyzedAndAgreesWithPyTorch()
    {
        Skip.If(Repo.PyTorchMissing is not null, Repo.PyTorchMissing);
        SyntheticData.SkipWithoutRealData();
        using var dir = new TempDir();
        var (pyCode, pyOut) = Repo.Run("python3", $"\"{Example("save_state_dict.py")}\" \"{dir["torch"]}\" --c1 8 --c2 12 --lat 6 --k 5 --seed 3");
        Assert.True(pyCode == 0, pyOut);
        var (_, meta) = Safetensors.Read(Path.Combine(dir["torch"], "model.safetensors"));
        Assert.DoesNotContain("c1", meta.Keys);

        var (code, output, err) = Cli.CliTests.Run("analyze", "--run", dir["torch"], "--out", dir["analysis"], "--accelerator", "cpu", "--eval-images", "200");
        Assert.True(code == 0, err);
        Assert.Contains("a PyTorch state_dict; c1=8 c2=12 latent=6 kernel=5)", output);
        Assert.Equal(new[] { 10_000, 6 }, Npy.Read(Path.Combine(dir["analysis"], "mu.npy")).Shape);
        AssertPyTorchReproduces(dir["torch"], dir["analysis"], dir["pytorch"]);
    }
}
