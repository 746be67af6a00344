using Vae.Gpu.Devices;
using Vae.Gpu.IO;
using Vae.Gpu.Tests.Data;
using static Vae.Gpu.Tests.Cli.CliTests;

namespace Vae.Gpu.Tests.Cli;

/// <summary>encode, decode, interpolate and sample on a trained gray model: each agrees with the library on the
/// same accelerator, and each kind of bad input is one line with nothing written.</summary>
public class UseCommandTests
{
    /// <summary>A model of two conv layers trained briefly on 16x14 gray blobs, its data, and two PNGs of it.</summary>
    static (string Run, string Data, string A, string B) Trained(TempDir dir)
    {
        var rng = new Random(3);
        var data = new byte[80 * 16 * 14];
        for (int i = 0; i < 80; i++)
        {
            int cx = rng.Next(3, 11), cy = rng.Next(3, 13), r = rng.Next(2, 5);
            for (int p = 0; p < 224; p++) data[i * 224 + p] = (byte)((p % 14 - cx) * (p % 14 - cx) + (p / 14 - cy) * (p / 14 - cy) <= r * r ? 230 : 15);
        }
        DataSourceTests.WriteNpy(dir["x.npy"], "|u1", new[] { 80, 16, 14 }, data);
        var (code, _, err) = Run("train", "--out", dir["run"], "--data", dir["x.npy"], "--c1", "4", "--c2", "6", "--latent", "3", "--epochs", "2",
            "--batch", "16", "--accelerator", "cpu", "--no-tune");
        Assert.True(code == 0, err);
        DataSourceTests.WritePng(dir["a.png"], 1, 16, 14, data[..224]);
        DataSourceTests.WritePng(dir["b.png"], 1, 16, 14, data[224..448]);
        return (dir["run"], dir["x.npy"], dir["a.png"], dir["b.png"]);
    }

    [Fact]
    public void EncodeDecodeInterpolateAndSampleWriteWhatTheLibraryComputes()
    {
        using var dir = new TempDir();
        var (run, data, a, b) = Trained(dir);
        using var vae = Vae.Gpu.Model.VAE.Load(run, TestDevices.Get(AcceleratorChoice.Cpu));
        var test = Vae.Gpu.Data.DataSource.Load(new Vae.Gpu.Data.DataOptions(data)).Test;

        var (code, _, err) = Run("encode", "--run", run, "--data", data, "--out", dir["enc/mu.npy"], "--sigma", "--accelerator", "cpu");
        Assert.True(code == 0, err);
        var (mu, sigma) = vae.Encode(test.Images(0, test.Count));
        Assert.Equal(new[] { test.Count, 3 }, Npy.Read(dir["enc/mu.npy"]).Shape);
        Assert.Equal(mu, Npy.Read(dir["enc/mu.npy"]).Data);
        Assert.Equal(sigma, Npy.Read(dir["enc/sigma.npy"]).Data);

        (code, _, err) = Run("encode", "--run", run, "--images", a, b, "--out", dir["two.npy"], "--accelerator", "cpu");
        Assert.True(code == 0, err);
        var two = Npy.Read(dir["two.npy"]);
        Assert.Equal(new[] { 2, 3 }, two.Shape);

        Npy.Write(dir["z.npy"], two.Data, 2, 3);
        (code, _, err) = Run("decode", "--run", run, "--z", dir["z.npy"], "--out", dir["dec"], "--accelerator", "cpu");
        Assert.True(code == 0, err);
        Assert.Equal(new[] { 2, 1, 16, 14 }, Npy.Read(Path.Combine(dir["dec"], "images.npy")).Shape);
        Assert.Equal(vae.Decode(two.Data), Npy.Read(Path.Combine(dir["dec"], "images.npy")).Data);
        Assert.True(File.Exists(Path.Combine(dir["dec"], "images.png")));

        (code, _, err) = Run("interpolate", "--run", run, "--from", a, "--to", b, "--steps", "5", "--out", dir["int"], "--accelerator", "cpu");
        Assert.True(code == 0, err);
        var row = Npy.Read(Path.Combine(dir["int"], "images.npy"));
        Assert.Equal(new[] { 5, 1, 16, 14 }, row.Shape);
        // The ends are the decoded mu of the two images.
        Assert.Equal(vae.Decode(two.Data)[..224], row.Data[..224]);
        Assert.Equal(vae.Decode(two.Data)[224..], row.Data[(4 * 224)..]);

        (code, _, err) = Run("sample", "--run", run, "--n", "9", "--seed", "4", "--out", dir["s"], "--accelerator", "cpu");
        Assert.True(code == 0, err);
        Assert.Equal(vae.Sample(9, 4), Npy.Read(Path.Combine(dir["s"], "images.npy")).Data);
        // --json: one document naming what was written.
        (code, var json, err) = Run("sample", "--run", run, "--n", "2", "--out", dir["sj"], "--accelerator", "cpu", "--json");
        Assert.True(code == 0, err);
        var doc = System.Text.Json.Nodes.JsonNode.Parse(json)!;
        Assert.Equal(2, doc["images"]!.GetValue<int>());
        Assert.Equal(Path.GetFullPath(Path.Combine(dir["sj"], "images.npy")), doc["images.npy"]!.GetValue<string>());
        Assert.Equal(new[] { 1, 16, 14 }, doc["image"]!.AsArray().Select(v => v!.GetValue<int>()));

        // Drawn from N(0, I/2), the problem set's prior: the sample variance of many draws is near 0.5.
        var z = vae.PriorSample(4000, 1);
        Assert.InRange(z.Average(v => (double)v * v), 0.45, 0.55);
    }

    [Fact]
    public void BadInputIsOneLineAndWritesNothing()
    {
        using var dir = new TempDir();
        var (run, _, a, b) = Trained(dir);
        DataSourceTests.WritePng(dir["big.png"], 1, 20, 20, new byte[400]);
        Npy.Write(dir["wide.npy"], new float[8], 2, 4);
        Npy.Write(dir["nan.npy"], new[] { 0f, float.NaN, 0f }, 1, 3);
        File.WriteAllText(dir["file"], "x");
        var cases = new (string[] Args, string Expected)[]
        {
            (new[] { "encode", "--run", run, "--images", dir["big.png"], "--out", dir["o/mu.npy"] }, "is 1x20x20 (channels x height x width); the model takes 1x16x14"),
            (new[] { "decode", "--run", run, "--z", dir["wide.npy"], "--out", dir["o"] }, "has shape (2, 4); the model takes latent vectors [N, 3]"),
            (new[] { "decode", "--run", run, "--z", dir["nan.npy"], "--out", dir["o"] }, "latent vector 0, entry 1, is NaN"),
            (new[] { "interpolate", "--run", run, "--from", a, "--to", b, "--steps", "1", "--out", dir["o"] }, "--steps 1 must be at least 2"),
            (new[] { "sample", "--run", run, "--n", "0", "--out", dir["o"] }, "--n 0 must be at least 1"),
            (new[] { "sample", "--run", dir["o"], "--out", dir["o2"] }, "holds no model.safetensors"),
            (new[] { "sample", "--run", run, "--out", dir["file"] }, $"--out {dir["file"]} is a file"),
        };
        foreach (var (args, expected) in cases)
        {
            var (code, _, err) = Run(args.Append("--accelerator").Append("cpu").ToArray());
            AssertOneLineError(code, err, expected);
            Assert.False(Directory.Exists(dir["o"]), $"{args[0]} wrote before refusing");
        }
    }
}
