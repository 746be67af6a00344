using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Vae.Gpu.Devices;
using Vae.Gpu.IO;
using Vae.Gpu.Tests.Data;
using static Vae.Gpu.Tests.Cli.CliTests;

namespace Vae.Gpu.Tests.Interop;

/// <summary>
/// export-onnx, checked by a real runtime: ONNX Runtime (CPU) runs encoder.onnx and decoder.onnx on real images
/// and latent vectors at two batch sizes and agrees with Vae.Gpu's accelerator; onnx's own checker passes where
/// python3 has onnx; the docs' ONNX Runtime program is examples/onnx and runs.
/// </summary>
public class OnnxExportTests
{
    /// <summary>A trained notebook-style model (three conv layers) on RGB 20x18 images, and those images.</summary>
    static (string Run, float[] Images) TrainedRgbModel(TempDir dir)
    {
        var rng = new Random(5);
        var data = new byte[60 * 20 * 18 * 3];
        for (int i = 0; i < 60; i++)
        {
            int cx = rng.Next(4, 14), cy = rng.Next(4, 16), r = rng.Next(3, 6), hue = i % 3;
            for (int p = 0; p < 360; p++)
                for (int c = 0; c < 3; c++)
                    data[(i * 360 + p) * 3 + c] = (byte)((p % 18 - cx) * (p % 18 - cx) + (p / 18 - cy) * (p / 18 - cy) <= r * r ? (c == hue ? 220 : 50) : rng.Next(0, 30));
        }
        DataSourceTests.WriteNpy(dir["x.npy"], "|u1", new[] { 60, 20, 18, 3 }, data);
        var (code, _, err) = Run("train", "--out", dir["run"], "--data", dir["x.npy"], "--channels", "4,6,5", "--latent", "3", "--epochs", "2",
            "--batch", "16", "--accelerator", "cpu", "--no-tune");
        Assert.True(code == 0, err);
        var set = Vae.Gpu.Data.DataSource.Load(new Vae.Gpu.Data.DataOptions(dir["x.npy"]));
        return (dir["run"], set.Test.Images(0, set.Test.Count));
    }

    /// <summary>
    /// ONNX Runtime checks itself on this CPU before it is compared with Vae.Gpu: both files on
    /// <paramref name="images"/> against the double-precision reference of the same weights (encoder: mu; decoder:
    /// the images of mu). Where the runtime is wrong here the test fails saying so, not as a difference from Vae.Gpu.
    /// </summary>
    static void RequireOnnxRuntimeRight(Vae.Gpu.Model.VAE vae, InferenceSession encoder, InferenceSession decoder, float[] images)
    {
        var c = vae.Config;
        int n = images.Length / c.Pixels;
        var p = vae.Parameters.ToHost().ToDictionary(kv => kv.Key, kv => kv.Value.Select(v => (double)v).ToArray());
        var reference = Vae.Gpu.Diagnostics.KernelCheck.Reference(c).Step(p, images.Select(v => (double)v).ToArray(), new double[n * c.Latent], n, c.Kl);
        var mu = RunOnnx(encoder, "images", images, new[] { n, c.ImageChannels, c.Height, c.Width }, "mu");
        var tolerance = Vae.Gpu.Diagnostics.Tolerance.OfScale(1e-5, reference.Mu);
        Assert.True(tolerance.Error(mu, reference.Mu) <= 1,
            $"ONNX Runtime {OrtVersion} is wrong on this CPU: encoder.onnx's mu is off from the float64 reference by {tolerance.Error(mu, reference.Mu):F1} tolerances");
        // With eps = 0 the reference decodes z = mu.
        var y = RunOnnx(decoder, "z", reference.Mu.Select(v => (float)v).ToArray(), new[] { n, c.Latent }, "images");
        double worst = y.Zip(reference.Reconstruction).Max(q => Math.Abs(q.First - q.Second));
        Assert.True(worst <= 1e-5, $"ONNX Runtime {OrtVersion} is wrong on this CPU: decoder.onnx's images are off from the float64 reference by {worst:E2}");
    }

    static string OrtVersion => typeof(InferenceSession).Assembly.GetName().Version?.ToString(3) ?? "?";

    static float[] RunOnnx(InferenceSession session, string input, float[] values, int[] dims, string output)
    {
        var tensor = new DenseTensor<float>(values, dims);
        using var results = session.Run(new[] { NamedOnnxValue.CreateFromTensor(input, tensor) });
        return results.Single(r => r.Name == output).AsTensor<float>().ToArray();
    }

    [Fact]
    public void OnnxRuntimeRunsBothFilesAndAgreesWithVaeGpu()
    {
        using var dir = new TempDir();
        var (run, images) = TrainedRgbModel(dir);
        var (code, output, err) = Run("export-onnx", "--run", run, "--out", dir["onnx"]);
        Assert.True(code == 0, err);
        Assert.Contains("opset 17", output);

        var device = TestDevices.Get(AcceleratorChoice.Cpu);
        using var vae = Vae.Gpu.Model.VAE.Load(run, device);
        var c = vae.Config;
        using var encoder = new InferenceSession(Path.Combine(dir["onnx"], "encoder.onnx"));
        using var decoder = new InferenceSession(Path.Combine(dir["onnx"], "decoder.onnx"));
        Assert.Equal("channels=4,6,5 latent=3 kernel=3 image=3x20x18", encoder.ModelMetadata.CustomMetadataMap["vae_gpu.model"]);
        Assert.Equal("0.5", decoder.ModelMetadata.CustomMetadataMap["vae_gpu.prior_variance"]);
        RequireOnnxRuntimeRight(vae, encoder, decoder, images[..(4 * c.Pixels)]);

        foreach (int n in new[] { 1, 6 })
        {
            var x = images[..(n * c.Pixels)];
            var (mu, sigma) = vae.Encode(x);
            var onnxMu = RunOnnx(encoder, "images", x, new[] { n, c.ImageChannels, c.Height, c.Width }, "mu");
            var onnxSigma = RunOnnx(encoder, "images", x, new[] { n, c.ImageChannels, c.Height, c.Width }, "sigma");
            double scale = mu.Max(Math.Abs);
            Assert.True(mu.Zip(onnxMu).Max(p => Math.Abs(p.First - p.Second)) <= 1e-5 * Math.Max(1, scale), $"mu differs at batch {n}");
            Assert.True(sigma.Zip(onnxSigma).Max(p => Math.Abs(p.First - p.Second) / p.First) <= 1e-5, $"sigma differs at batch {n}");

            var z = vae.PriorSample(n, seed: n);
            var ours = vae.Decode(z);
            var theirs = RunOnnx(decoder, "z", z, new[] { n, c.Latent }, "images");
            Assert.Equal(ours.Length, theirs.Length);
            double worst = ours.Zip(theirs).Max(p => Math.Abs(p.First - p.Second));
            Assert.True(worst <= 1e-5, $"decoded images differ by {worst:E2} at batch {n}");
            Assert.True(ours.Distinct().Count() > 50, "the decoded images are nearly constant, so agreeing proves little");
        }
    }

    /// <summary>The problem set's model on Fashion-MNIST: ONNX Runtime on real test images agrees with Vae.Gpu.</summary>
    [SkippableFact]
    public void OnRealImagesTheProblemSetsModelAgreesToo()
    {
        SyntheticData.SkipWithoutRealData();
        using var dir = new TempDir();
        var (code, _, err) = Run("train", "--out", dir["run"], "--epochs", "1", "--max-batches", "3", "--batch", "32", "--c1", "4", "--c2", "8",
            "--latent", "5", "--accelerator", "cpu", "--no-tune");
        Assert.True(code == 0, err);
        (code, _, err) = Run("export-onnx", "--run", dir["run"], "--out", dir["onnx"]);
        Assert.True(code == 0, err);
        using var vae = Vae.Gpu.Model.VAE.Load(dir["run"], TestDevices.Get(AcceleratorChoice.Cpu));
        var test = Vae.Gpu.Data.FashionMnist.Load(null).Test;
        var x = test.Images(0, 20);
        using var encoder = new InferenceSession(Path.Combine(dir["onnx"], "encoder.onnx"));
        using var decoder = new InferenceSession(Path.Combine(dir["onnx"], "decoder.onnx"));
        RequireOnnxRuntimeRight(vae, encoder, decoder, x[..(4 * 784)]);
        var (mu, _) = vae.Encode(x);
        var onnxMu = RunOnnx(encoder, "images", x, new[] { 20, 1, 28, 28 }, "mu");
        Assert.True(mu.Zip(onnxMu).Max(p => Math.Abs(p.First - p.Second)) <= 1e-5 * Math.Max(1, mu.Max(Math.Abs)));
        // The real images' own latent vectors, decoded both ways.
        var ours = vae.Decode(mu);
        var theirs = RunOnnx(decoder, "z", mu, new[] { 20, 5 }, "images");
        Assert.True(ours.Zip(theirs).Max(p => Math.Abs(p.First - p.Second)) <= 1e-5);
    }

    [Fact]
    public void BadExportsAreOneLineAndWriteNothing()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir["empty"]);
        var (code, _, err) = Run("export-onnx", "--run", dir["empty"], "--out", dir["o"]);
        AssertOneLineError(code, err, $"{dir["empty"]} holds no model.safetensors");
        Assert.False(Directory.Exists(dir["o"]));

        var (run, _) = TrainedRgbModel(dir);
        File.WriteAllText(dir["file"], "x");
        (code, _, err) = Run("export-onnx", "--run", run, "--out", dir["file"]);
        AssertOneLineError(code, err, $"--out {dir["file"]} is a file");

        // Weights that are not finite: the checkpoint rewritten with a NaN.
        string model = Path.Combine(run, "model.safetensors");
        var (tensors, meta) = Safetensors.Read(model);
        tensors["decoder.l1.weight"].Data[3] = float.NaN;
        Safetensors.Write(model, tensors.Values.ToList(), meta);
        (code, _, err) = Run("export-onnx", "--run", run, "--out", dir["nan"]);
        AssertOneLineError(code, err, "hold NaN or infinite values (decoder.l1.weight), so the model cannot be exported");
        Assert.False(Directory.Exists(dir["nan"]));
    }

    /// <summary>onnx's checker with full_check (shape inference included), where python3 has onnx (CI installs it).</summary>
    [SkippableFact]
    public void TheOnnxCheckerPassesBothFiles()
    {
        var (has, version) = Repo.Run("python3", "-c \"import onnx; print(onnx.__version__)\"", 60);
        Skip.If(has != 0, $"python3 has no onnx module (apt install python3-onnx; CI installs it): {version.Trim().Split('\n').Last()}");
        using var dir = new TempDir();
        var (run, _) = TrainedRgbModel(dir);
        var (code, _, err) = Run("export-onnx", "--run", run, "--out", dir["onnx"]);
        Assert.True(code == 0, err);
        foreach (var file in new[] { "encoder.onnx", "decoder.onnx" })
        {
            string path = Path.Combine(dir["onnx"], file);
            var (checkCode, checkOut) = Repo.Run("python3", $"-c \"import onnx; onnx.checker.check_model(onnx.load('{path}'), full_check=True); print('ok')\"", 120);
            Assert.True(checkCode == 0 && checkOut.Contains("ok"), $"onnx {version.Trim()} checker on {file}: {checkOut}");
        }
    }

    [Fact]
    public void TheGuideAndTheReadmeShowTheOnnxRuntimeProgramVerbatim()
    {
        string program = File.ReadAllText(Path.Combine(Repo.Root, "examples", "onnx", "Program.cs")).Replace("\r", "").Trim();
        foreach (var page in new[] { Path.Combine("docs", "use-a-model.md"), "README.md" })
            Assert.Contains("```csharp\n" + program + "\n```", File.ReadAllText(Path.Combine(Repo.Root, page)).Replace("\r", ""));
    }

    [Fact, Trait("Category", "Slow")]
    public void TheOnnxRuntimeProgramBuildsAndRunsTheDecoder()
    {
        using var dir = new TempDir();
        var (run, _) = TrainedRgbModel(dir);
        var (code, _, err) = Run("export-onnx", "--run", run, "--out", dir["onnx"]);
        Assert.True(code == 0, err);
        // Built in a folder of the test's own (the repository is only read), as a user's console app would be.
        Directory.CreateDirectory(dir["app"]);
        foreach (var file in new[] { "Program.cs", "OnnxExample.csproj" })
            File.Copy(Path.Combine(Repo.Root, "examples", "onnx", file), Path.Combine(dir["app"], file));
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = dir["app"] };
        foreach (var a in new[] { "run", "-c", "Release", "--", Path.Combine(dir["onnx"], "decoder.onnx") })
            psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_NOLOGO"] = "1";
        var (runCode, output) = Repo.Run(psi, 400);
        Assert.True(runCode == 0, output);
        Assert.Matches(@"images \[2, 3, 20, 18\], mean 0\.\d{4}", output);
    }
}
