using System.CommandLine;
using Vae.Gpu.Data;
using Vae.Gpu.Devices;
using Vae.Gpu.IO;
using Vae.Gpu.Model;
using Vae.Gpu.Plotting;
using Vae.Gpu.Training;

namespace Vae.Gpu.Cli;

/// <summary>Using a trained model: encode, decode, interpolate, sample and export-onnx. Every input is checked
/// before anything is written; outputs are written whole (each file atomically).</summary>
public static partial class Program
{
    static readonly Option<string> UseRunOption = new("--run") { Description = "folder of a training run (model.safetensors), or of a PyTorch state_dict", Required = true };

    static Command EncodeCommand()
    {
        var data = new Option<string?>("--data") { Description = "images to encode: any --data source of train (encoded: its test split, or --split train)" };
        var images = new Option<string[]>("--images") { Description = "image files (PNG, JPEG, ...) to encode, one row each", AllowMultipleArgumentsPerToken = true };
        var split = new Option<string>("--split") { Description = "with --data: test | train", DefaultValueFactory = _ => "test" };
        var output = new Option<string>("--out") { Description = "the .npy file for mu [N, lat]", Required = true };
        var sigma = new Option<bool>("--sigma") { Description = "also write sigma [N, lat] to sigma.npy beside --out" };
        var cmd = new Command("encode", "encode images with a trained model's encoder: mu (and sigma) per image, as .npy")
        {
            UseRunOption, data, images, split, output, sigma, AcceleratorOption, JsonOption,
        };
        cmd.SetAction(p => Guard(() =>
        {
            string run = p.GetValue(UseRunOption)!, outFile = p.GetValue(output)!;
            var files = p.GetValue(images) ?? Array.Empty<string>();
            string? dataPath = p.GetValue(data);
            if ((dataPath is null) == (files.Length == 0)) throw new VaeException("give the images to encode with --data PATH or --images FILE..., one of the two");
            if (p.GetValue(split) is not ("test" or "train")) throw new VaeException($"--split '{p.GetValue(split)}' is unknown; use test or train");
            OutputFile(outFile);
            using var device = ComputeDevice.Create(ParseAccelerator(p.GetValue(AcceleratorOption)!));
            using var vae = VAE.Load(run, device);
            float[] x = dataPath is not null ? FromData(vae.Config, dataPath, p.GetValue(split) == "train") : FromFiles(vae.Config, files);
            var (mu, s) = vae.Encode(x);
            int n = mu.Length / vae.Config.Latent;
            RunFolder.EnsureWritable(Path.GetDirectoryName(Path.GetFullPath(outFile))!);
            Npy.Write(outFile, mu, n, vae.Config.Latent);
            string? sigmaFile = p.GetValue(sigma) ? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(outFile))!, "sigma.npy") : null;
            if (sigmaFile is not null) Npy.Write(sigmaFile, s, n, vae.Config.Latent);
            if (p.GetValue(JsonOption))
                Console.WriteLine(Document(vae, ("images", n), ("mu", Path.GetFullPath(outFile)), ("sigma", sigmaFile)));
            else Console.WriteLine($"encoded {n:N0} images: mu [{n}, {vae.Config.Latent}] in {outFile}{(sigmaFile is null ? "" : $", sigma in {sigmaFile}")}");
            return 0;
        }));
        return cmd;
    }

    static Command DecodeCommand()
    {
        var z = new Option<string>("--z") { Description = "latent vectors: a float32 .npy [N, lat]", Required = true };
        var cmd = new Command("decode", "decode latent vectors with a trained model's decoder: images.npy [N, C, H, W] and images.png")
        {
            UseRunOption, z, OutOption, AcceleratorOption, JsonOption,
        };
        cmd.SetAction(p => Guard(() =>
        {
            string zPath = p.GetValue(z)!;
            if (!File.Exists(zPath)) throw new VaeException($"--z {zPath}: no such file; give a float32 .npy of latent vectors [N, lat]");
            var (values, shape) = Npy.Read(zPath);
            string outDir = OutputFolder(p.GetValue(OutOption)!);
            using var device = ComputeDevice.Create(ParseAccelerator(p.GetValue(AcceleratorOption)!));
            using var vae = VAE.Load(p.GetValue(UseRunOption)!, device);
            if (shape.Length != 2 || shape[1] != vae.Config.Latent)
                throw new VaeException($"--z {zPath} has shape ({string.Join(", ", shape)}); the model takes latent vectors [N, {vae.Config.Latent}]");
            WriteImages(outDir, vae, vae.Decode(values), $"{shape[0]} decoded latent vectors", json: p.GetValue(JsonOption));
            return 0;
        }));
        return cmd;
    }

    static Command InterpolateCommand()
    {
        var from = new Option<string>("--from") { Description = "the first image (PNG, JPEG, ...)", Required = true };
        var to = new Option<string>("--to") { Description = "the last image", Required = true };
        var steps = new Option<int>("--steps") { Description = "images in the row, the two ends included, >= 2", DefaultValueFactory = _ => 8 };
        var spherical = new Option<bool>("--spherical") { Description = "along the great circle between the two mu (slerp) instead of the straight line" };
        var cmd = new Command("interpolate", "a row of images from one image to another through the latent space: images.npy and images.png")
        {
            UseRunOption, from, to, steps, spherical, OutOption, AcceleratorOption, JsonOption,
        };
        cmd.SetAction(p => Guard(() =>
        {
            int n = p.GetValue(steps);
            if (n < 2) throw new VaeException($"--steps {n} must be at least 2 (the two ends)");
            string outDir = OutputFolder(p.GetValue(OutOption)!);
            using var device = ComputeDevice.Create(ParseAccelerator(p.GetValue(AcceleratorOption)!));
            using var vae = VAE.Load(p.GetValue(UseRunOption)!, device);
            var a = FromFiles(vae.Config, new[] { p.GetValue(from)! });
            var b = FromFiles(vae.Config, new[] { p.GetValue(to)! });
            WriteImages(outDir, vae, vae.Interpolate(a, b, n, p.GetValue(spherical)), $"{n} images from {Path.GetFileName(p.GetValue(from))} to {Path.GetFileName(p.GetValue(to))} through the latent space{(p.GetValue(spherical) ? " (slerp)" : "")}", rows: 1, json: p.GetValue(JsonOption));
            return 0;
        }));
        return cmd;
    }

    static Command SampleCommand()
    {
        var count = new Option<int>("--n") { Description = "images to draw, >= 1", DefaultValueFactory = _ => 64 };
        var seed = new Option<int>("--seed") { Description = "seed of the draws", DefaultValueFactory = _ => 0 };
        var cmd = new Command("sample", "decode draws from the prior the model was trained with (N(0, I/2) for the problem set's KL, N(0, I) for the textbook one): images.npy and images.png")
        {
            UseRunOption, count, seed, OutOption, AcceleratorOption, JsonOption,
        };
        cmd.SetAction(p => Guard(() =>
        {
            int n = p.GetValue(count);
            if (n < 1) throw new VaeException($"--n {n} must be at least 1");
            string outDir = OutputFolder(p.GetValue(OutOption)!);
            using var device = ComputeDevice.Create(ParseAccelerator(p.GetValue(AcceleratorOption)!));
            using var vae = VAE.Load(p.GetValue(UseRunOption)!, device);
            WriteImages(outDir, vae, vae.Sample(n, p.GetValue(seed)), $"{n} samples from the prior", json: p.GetValue(JsonOption));
            return 0;
        }));
        return cmd;
    }

    static Command ExportOnnxCommand()
    {
        var cmd = new Command("export-onnx", "write the model as encoder.onnx (images -> mu, sigma) and decoder.onnx (z -> images) for ONNX Runtime, opset 17, dynamic batch")
        {
            UseRunOption, OutOption, JsonOption,
        };
        cmd.SetAction(p => Guard(() =>
        {
            string run = p.GetValue(UseRunOption)!;
            // The weights are read on the CPU accelerator: export needs no fast device.
            using var device = ComputeDevice.Create(AcceleratorChoice.Cpu);
            var (checkpoint, _) = Checkpoint.ReadForUse(run, ", so the model cannot be exported; retrain, or export an earlier checkpoint");
            string outDir = OutputFolder(p.GetValue(OutOption)!);
            using var vae = checkpoint.CreateModel(device);
            RunFolder.EnsureWritable(outDir);
            OnnxExport.Write(vae, outDir, OnnxExport.Metadata(vae.Config, run, checkpoint.Epoch));
            if (p.GetValue(JsonOption))
                Console.WriteLine(Document(vae, ("encoder", Path.GetFullPath(Path.Combine(outDir, OnnxExport.EncoderFile))),
                    ("decoder", Path.GetFullPath(Path.Combine(outDir, OnnxExport.DecoderFile))), ("ir_version", OnnxExport.IrVersion), ("opset", OnnxExport.Opset)));
            else Console.WriteLine($"wrote {Path.Combine(outDir, OnnxExport.EncoderFile)} and {Path.Combine(outDir, OnnxExport.DecoderFile)} ({vae.Config.Describe()}; IR {OnnxExport.IrVersion}, opset {OnnxExport.Opset}, batch dynamic)");
            return 0;
        }));
        return cmd;
    }

    /// <summary>What a command wrote, as one JSON document: the model's shapes and the given fields.</summary>
    static string Document(VAE vae, params (string Name, object? Value)[] fields)
    {
        var c = vae.Config;
        var doc = new System.Text.Json.Nodes.JsonObject
        {
            ["model"] = c.Describe(), ["latent"] = c.Latent,
            ["image"] = new System.Text.Json.Nodes.JsonArray(c.ImageChannels, c.Height, c.Width),
        };
        foreach (var (name, value) in fields) doc[name] = System.Text.Json.JsonSerializer.SerializeToNode(value);
        return doc.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>An output folder: refused when it exists as a file; created (with its parents) otherwise.</summary>
    static string OutputFolder(string dir)
    {
        if (File.Exists(dir)) throw new VaeException($"--out {dir} is a file; give a folder to write into");
        return dir;
    }

    static void OutputFile(string file)
    {
        if (Directory.Exists(file)) throw new VaeException($"--out {file} is a folder; give the .npy file to write");
    }

    static void WriteImages(string dir, VAE vae, float[] images, string what, int? rows = null, bool json = false)
    {
        var c = vae.Config;
        int n = images.Length / c.Pixels;
        RunFolder.EnsureWritable(dir);
        Npy.Write(Path.Combine(dir, "images.npy"), images, n, c.ImageChannels, c.Height, c.Width);
        int cols = rows == 1 ? n : (int)Math.Ceiling(Math.Sqrt(n));
        var list = Enumerable.Range(0, n).Select(i => images.AsSpan(i * c.Pixels, c.Pixels).ToArray()).ToList();
        Figures.ImageGrid(Path.Combine(dir, "images.png"), list, (n + cols - 1) / cols, cols, what, shape: (c.ImageChannels, c.Height, c.Width));
        if (json)
            Console.WriteLine(Document(vae, ("images", n), ("images.npy", Path.GetFullPath(Path.Combine(dir, "images.npy"))), ("images.png", Path.GetFullPath(Path.Combine(dir, "images.png")))));
        else Console.WriteLine($"wrote {what}: {Path.Combine(dir, "images.npy")} [{n}, {c.ImageChannels}, {c.Height}, {c.Width}] and images.png");
    }

    /// <summary>Image files decoded and checked against the model's channels and size, as [N, C, H, W] in [0, 1].</summary>
    static float[] FromFiles(VaeConfig c, IReadOnlyList<string> files)
    {
        var x = new float[files.Count * c.Pixels];
        for (int i = 0; i < files.Count; i++)
        {
            if (!File.Exists(files[i])) throw new VaeException($"image {files[i]}: no such file");
            var (shape, planar) = ImageFolder.Decode(files[i]);
            if (shape != (c.ImageChannels, c.Height, c.Width))
                throw new VaeException($"image {files[i]} is {shape.C}x{shape.H}x{shape.W} (channels x height x width); the model takes {c.ImageChannels}x{c.Height}x{c.Width}");
            for (int j = 0; j < planar.Length; j++) x[i * c.Pixels + j] = planar[j] / 255f;
        }
        return x;
    }

    static float[] FromData(VaeConfig c, string path, bool train)
    {
        var set = DataSource.Load(new DataOptions(path));
        var split = train ? set.Train : set.Test;
        if ((split.Channels, split.Height, split.Width) != (c.ImageChannels, c.Height, c.Width))
            throw new VaeException($"--data {path} holds {split.Channels}x{split.Height}x{split.Width} images (channels x height x width); the model takes {c.ImageChannels}x{c.Height}x{c.Width}");
        return split.Images(0, split.Count);
    }
}
