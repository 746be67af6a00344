using System.Text.Json;
using SkiaSharp;
using Vae.Gpu.IO;
using Vae.Gpu.Tests.Data;
using static Vae.Gpu.Tests.Cli.CliTests;

namespace Vae.Gpu.Tests.Cli;

/// <summary>
/// Your own images through the command line: an RGB .npy set trains a model defined by --channels (the
/// notebook's tensor names), analyzes with figures in colour and evaluates; data of another size is refused
/// by resume and analyze; a model too deep for the images is refused naming the smallest size that works.
/// </summary>
public class OwnImagesTests
{
    /// <summary>(N, 20, 18, 3) uint8: a coloured disc per image, its colour from the class (the label).</summary>
    static void WriteRgbSet(string images, string labels, int n)
    {
        var rng = new Random(11);
        var data = new byte[n * 20 * 18 * 3];
        var classes = new byte[n * 8];
        for (int i = 0; i < n; i++)
        {
            int label = i % 3, cx = rng.Next(5, 13), cy = rng.Next(5, 15), r = rng.Next(3, 6);
            classes[i * 8] = (byte)label;
            for (int y = 0; y < 20; y++)
                for (int x = 0; x < 18; x++)
                    for (int c = 0; c < 3; c++)
                        data[((i * 20 + y) * 18 + x) * 3 + c] = (byte)((x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r ? (c == label ? 230 : 40) : 10);
        }
        DataSourceTests.WriteNpy(images, "|u1", new[] { n, 20, 18, 3 }, data);
        DataSourceTests.WriteNpy(labels, "<i8", new[] { n }, classes);
    }

    [Fact]
    public void AnRgbNpySetTrainsANotebookModelAnalyzesInColourAndEvaluates()
    {
        using var dir = new TempDir();
        WriteRgbSet(dir["rgb.npy"], dir["labels.npy"], 160);
        var (code, output, err) = Run("train", "--out", dir["run"], "--data", dir["rgb.npy"], "--labels", dir["labels.npy"], "--channels", "4,6,5",
            "--latent", "3", "--epochs", "2", "--batch", "32", "--accelerator", "cpu", "--beta", "0.5", "--test-fraction", "0.25", "--no-tune");
        Assert.True(code == 0, err);
        Assert.Contains("120 images of 3x20x18 to train, 40 to test, a seeded hold-out of 0.25", output);

        var (tensors, meta) = Safetensors.Read(Path.Combine(dir["run"], "model.safetensors"));
        Assert.Equal(new[] { 4, 3, 3, 3 }, tensors["encoder.convs.0.weight"].Shape);
        Assert.Equal(new[] { 5, 6, 3, 3 }, tensors["encoder.convs.2.weight"].Shape);
        Assert.Equal(new[] { 5 * 14 * 12, 3 }, tensors["decoder.l1.weight"].Shape);
        Assert.Equal(new[] { 5, 6, 3, 3 }, tensors["decoder.convs.0.weight"].Shape);
        Assert.Equal(new[] { 4, 3, 3, 3 }, tensors["decoder.convs.2.weight"].Shape);
        Assert.DoesNotContain(tensors.Keys, k => k.Contains("conv1") || k.Contains("deconv"));
        Assert.Equal("4,6,5", meta["channels"]);
        using (var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir["run"], "metrics.json"))))
        {
            var config = metrics.RootElement.GetProperty("config");
            Assert.Equal(new[] { 4, 6, 5 }, config.GetProperty("channels").EnumerateArray().Select(e => e.GetInt32()));
            Assert.Equal((3, 20, 18), (config.GetProperty("image_channels").GetInt32(), config.GetProperty("height").GetInt32(), config.GetProperty("width").GetInt32()));
            Assert.Equal(0.5, config.GetProperty("beta").GetDouble());
            Assert.Equal(0.25, config.GetProperty("test_fraction").GetDouble());
            Assert.Equal(Path.GetFullPath(dir["rgb.npy"]), config.GetProperty("data").GetString());
        }

        // analyze reads the same data and hold-out from metrics.json, without --data.
        (code, _, err) = Run("analyze", "--run", dir["run"], "--out", dir["an"], "--accelerator", "cpu");
        Assert.True(code == 0, err);
        var (samples, shape) = Npy.Read(Path.Combine(dir["an"], "samples.npy"));
        Assert.Equal(new[] { 64, 3, 20, 18 }, shape);
        Assert.Equal(new[] { 40, 3 }, Npy.Read(Path.Combine(dir["an"], "mu.npy")).Shape);
        Assert.Equal(new[] { 7, 7, 3, 20, 18 }, Npy.Read(Path.Combine(dir["an"], "traverse-7x7.npy")).Shape);
        // The test images' figure is in colour: some pixel's channels differ.
        using (var png = SKBitmap.Decode(Path.Combine(dir["an"], "reconstructions.png")))
            Assert.Contains(Enumerable.Range(0, png.Width * png.Height).Select(i => png.GetPixel(i % png.Width, i / png.Width)),
                p => Math.Abs(p.Red - p.Green) > 60 || Math.Abs(p.Green - p.Blue) > 60);
        using (var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir["an"], "report.json"))))
            Assert.Equal(new[] { "0", "1", "2" }, report.RootElement.GetProperty("evaluation").GetProperty("classes").GetProperty("names").EnumerateArray().Select(e => e.GetString()));

        // Given the run's data again (as `run` does), the run's labels file still applies.
        (code, _, err) = Run("analyze", "--run", dir["run"], "--out", dir["an3"], "--data", dir["rgb.npy"], "--accelerator", "cpu", "--eval-images", "40");
        Assert.True(code == 0, err);
        using (var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir["an3"], "report.json"))))
            Assert.Equal(3, report.RootElement.GetProperty("evaluation").GetProperty("classes").GetProperty("names").GetArrayLength());

        (code, _, err) = Run("evaluate", "--run", dir["run"], "--out", dir["ev"], "--accelerator", "cpu");
        Assert.True(code == 0, err);
        Assert.True(File.Exists(Path.Combine(dir["ev"], "classes.png")));

        // A resume keeps the run's beta and hold-out; a different one given is refused, not silently dropped.
        var saved = TempDir.Snapshot(dir["run"]);
        (code, _, err) = Run("train", "--out", dir["run"], "--resume", dir["run"], "--epochs", "3", "--beta", "1", "--accelerator", "cpu");
        AssertOneLineError(code, err, "--beta 1 disagrees with the run being resumed (--beta 0.5)");
        (code, _, err) = Run("train", "--out", dir["run"], "--resume", dir["run"], "--epochs", "3", "--test-fraction", "0.5", "--accelerator", "cpu");
        AssertOneLineError(code, err, "--test-fraction 0.5 disagrees with the run being resumed (--test-fraction 0.25)");
        Assert.Equal(saved, TempDir.Snapshot(dir["run"]));

        // Data of another size: resume and analyze refuse it, naming both shapes; nothing is written.
        DataSourceTests.WriteNpy(dir["small.npy"], "|u1", new[] { 40, 12, 12 }, new byte[40 * 144]);
        var before = TempDir.Snapshot(dir["run"]);
        (code, _, err) = Run("train", "--out", dir["run"], "--resume", dir["run"], "--epochs", "3", "--data", dir["small.npy"], "--accelerator", "cpu");
        AssertOneLineError(code, err, "the data holds 1x12x12 images (channels x height x width) but the run in");
        Assert.Equal(before, TempDir.Snapshot(dir["run"]));
        (code, _, err) = Run("analyze", "--run", dir["run"], "--out", dir["an2"], "--data", dir["small.npy"], "--accelerator", "cpu");
        AssertOneLineError(code, err, "the test images are 1x12x12 (channels x height x width) but the model in");
        Assert.False(Directory.Exists(dir["an2"]));
    }

    [Fact]
    public void ImagesTooSmallForTheLayersNameTheSmallestSizeThatWorks()
    {
        using var dir = new TempDir();
        DataSourceTests.WriteNpy(dir["x.npy"], "|u1", new[] { 20, 16, 16 }, new byte[20 * 256]);
        var (code, _, err) = Run("train", "--out", dir["o"], "--data", dir["x.npy"], "--channels", "4,4,4,4", "--kernel", "5", "--accelerator", "cpu");
        AssertOneLineError(code, err, "16x16 images are too small for 4 5x5 convolutions, which need at least 17x17; use larger images, fewer layers or a smaller --kernel");
        Assert.False(Directory.Exists(dir["o"]));
        (code, _, err) = Run("train", "--out", dir["o"], "--data", dir["x.npy"], "--channels", "4", "--c1", "3", "--accelerator", "cpu");
        AssertOneLineError(code, err, "--channels and --c1/--c2 both define the conv layers; give one of them");
    }
}
