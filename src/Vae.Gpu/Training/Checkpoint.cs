using System.Globalization;
using Vae.Gpu.Devices;
using Vae.Gpu.IO;
using Vae.Gpu.Kernels;
using Vae.Gpu.Model;
using Vae.Gpu.Optim;

namespace Vae.Gpu.Training;

/// <summary>
/// DIR/model.safetensors (the contract: PyTorch names and layouts, metadata c1, c2, lat, k, kl, epoch,
/// seed) and DIR/optimizer.safetensors beside it (Adam's m and v, its step, the noise step).
/// </summary>
public sealed record Checkpoint(VaeConfig Config, int Epoch, int Seed, Dictionary<string, float[]> Parameters, OptimizerState? Optimizer)
{
    public const string ModelFile = "model.safetensors", OptimizerFile = "optimizer.safetensors";

    public static string ModelPath(string dir) => Path.Combine(dir, ModelFile);

    /// <summary>Writes both files, each atomically; the optimizer first, so a model file never names an epoch its optimizer state lacks.</summary>
    public static void Save(string dir, Vae.Gpu.Model.Vae vae, Adam? adam, int epoch, int seed)
    {
        var c = vae.Config;
        var meta = new Dictionary<string, string>
        {
            ["c1"] = c.C1.ToString(CultureInfo.InvariantCulture), ["c2"] = c.C2.ToString(CultureInfo.InvariantCulture),
            ["lat"] = c.Latent.ToString(CultureInfo.InvariantCulture), ["k"] = c.Kernel.ToString(CultureInfo.InvariantCulture),
            ["kl"] = VaeConfig.KlName(c.Kl), ["epoch"] = epoch.ToString(CultureInfo.InvariantCulture),
            ["seed"] = seed.ToString(CultureInfo.InvariantCulture),
        };
        var store = vae.Parameters;
        if (adam is not null)
        {
            var m = adam.M.ToArray();
            var v = adam.V.ToArray();
            var moments = store.Parameters.SelectMany(p => new[]
            {
                new NamedTensor("m." + p.Name, p.Shape, m.AsSpan(p.Offset, p.Length).ToArray()),
                new NamedTensor("v." + p.Name, p.Shape, v.AsSpan(p.Offset, p.Length).ToArray()),
            });
            var optMeta = new Dictionary<string, string>(meta)
            {
                ["adam_step"] = adam.StepCount.ToString(CultureInfo.InvariantCulture),
                ["noise_step"] = vae.NoiseStep.ToString(CultureInfo.InvariantCulture),
                ["lr"] = adam.LearningRate.ToString("R", CultureInfo.InvariantCulture),
            };
            Safetensors.Write(Path.Combine(dir, OptimizerFile), moments, optMeta);
        }
        var values = store.ToHost();
        Safetensors.Write(ModelPath(dir), store.Parameters.Select(p => new NamedTensor(p.Name, p.Shape, values[p.Name])), meta);
    }

    /// <summary>
    /// Reads and checks a checkpoint folder. The optimizer state is read only when <paramref name="readOptimizer"/>
    /// (resuming needs it; analysis uses the model alone). A model.safetensors without our metadata is taken as
    /// a PyTorch state_dict of the problem set's VAE (<c>safetensors.torch.save_file(vae.state_dict(), ...)</c>):
    /// c1, c2, lat and k are read from the shapes, the KL is the problem set's, and it has no epoch.
    /// </summary>
    public static Checkpoint Load(string dir, bool readOptimizer = false)
    {
        string path = ModelPath(dir);
        var (tensors, meta) = Safetensors.Read(path);
        bool ours = meta.ContainsKey("c1");
        int Int(string key) => meta.TryGetValue(key, out var s) && int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v)
            ? v : throw new VaeException($"checkpoint {path} lacks metadata '{key}'; it was not written by vae-gpu");
        var config = ours
            ? new VaeConfig(Int("c1"), Int("c2"), Int("lat"), Int("k"), VaeConfig.ParseKl(meta.GetValueOrDefault("kl", "seed")))
            : ConfigFromShapes(path, tensors);
        try { config.Validate(); }
        catch (VaeException e) { throw new VaeException($"checkpoint {path} has impossible hyperparameters: {e.Message}"); }
        CheckShapes(path, config, tensors);

        OptimizerState? optimizer = null;
        string optPath = Path.Combine(dir, OptimizerFile);
        if (!ours && readOptimizer)
            throw new VaeException($"{path} is a PyTorch state_dict without Adam's state, so training cannot resume from it; analyze it, or start a new run");
        if (readOptimizer && File.Exists(optPath))
        {
            var (moments, optMeta) = Safetensors.Read(optPath);
            if (optMeta.GetValueOrDefault("epoch") != meta["epoch"])
                throw new VaeException($"{optPath} is from epoch {optMeta.GetValueOrDefault("epoch")} but {path} from epoch {meta["epoch"]}; the folder is inconsistent");
            foreach (var (name, shape) in Specs(config))
                foreach (var prefix in new[] { "m.", "v." })
                    if (!moments.TryGetValue(prefix + name, out var t) || !t.Shape.SequenceEqual(shape))
                        throw new VaeException($"{optPath} lacks {prefix}{name} of shape [{string.Join(",", shape)}]; the file is corrupt");
            optimizer = new OptimizerState(
                moments.Where(kv => kv.Key.StartsWith("m.")).ToDictionary(kv => kv.Key[2..], kv => kv.Value.Data),
                moments.Where(kv => kv.Key.StartsWith("v.")).ToDictionary(kv => kv.Key[2..], kv => kv.Value.Data),
                long.Parse(optMeta.GetValueOrDefault("adam_step", "0"), CultureInfo.InvariantCulture),
                ulong.Parse(optMeta.GetValueOrDefault("noise_step", "0"), CultureInfo.InvariantCulture));
        }
        else if (readOptimizer)
            throw new VaeException($"{dir} has no {OptimizerFile}, so training cannot resume with Adam's state; start a new run instead");

        return new Checkpoint(config, ours ? Int("epoch") : 0, ours ? Int("seed") : 0, tensors.ToDictionary(kv => kv.Key, kv => kv.Value.Data), optimizer)
        {
            FromPyTorch = !ours,
        };
    }

    /// <summary>True when the model came from PyTorch (no vae-gpu metadata): no epoch, seed or optimizer state.</summary>
    public bool FromPyTorch { get; init; }

    /// <summary>
    /// The problem set's hyperparameters from a state_dict's shapes: conv1.weight is [c1, 1, k, k],
    /// conv2.weight [c2, c1, k, k], mean.weight [lat, c2 (28 - 2(k - 1))^2]; <see cref="CheckShapes"/> checks the rest.
    /// </summary>
    static VaeConfig ConfigFromShapes(string path, Dictionary<string, NamedTensor> tensors)
    {
        int[] Shape(string name, int rank) =>
            tensors.TryGetValue(name, out var t) && t.Shape.Length == rank ? t.Shape
                : throw new VaeException($"checkpoint {path} has no vae-gpu metadata and no {rank}-D {name}, so it is not a state_dict of the problem set's VAE; save one with safetensors.torch.save_file(vae.state_dict(), path)");
        var conv1 = Shape("encoder.conv1.weight", 4);
        var conv2 = Shape("encoder.conv2.weight", 4);
        var mean = Shape("encoder.mean.weight", 2);
        var config = new VaeConfig(conv1[0], conv2[0], mean[0], conv1[2]);
        try { config.Validate(); }
        catch (VaeException e) { throw new VaeException($"checkpoint {path} has impossible shapes: {e.Message}"); }
        return config;
    }

    static IEnumerable<(string, int[])> Specs(VaeConfig c) => Encoder.Specs(c).Concat(Decoder.Specs(c));

    static void CheckShapes(string path, VaeConfig config, Dictionary<string, NamedTensor> tensors)
    {
        foreach (var (name, shape) in Specs(config))
        {
            if (!tensors.TryGetValue(name, out var t))
                throw new VaeException($"checkpoint {path} lacks tensor {name}");
            if (!t.Shape.SequenceEqual(shape))
                throw new VaeException($"checkpoint {path}: {name} is [{string.Join(",", t.Shape)}] but c1={config.C1} c2={config.C2} lat={config.Latent} k={config.Kernel} needs [{string.Join(",", shape)}]");
        }
    }

    /// <summary>A model on <paramref name="device"/> with this checkpoint's weights.</summary>
    public Vae.Gpu.Model.Vae CreateModel(ComputeDevice device, int lossCapacity = Vae.Gpu.Model.Vae.DefaultLossCapacity)
    {
        var vae = new Vae.Gpu.Model.Vae(device, Config, Seed, lossCapacity);
        vae.Parameters.Load(Parameters);
        return vae;
    }

    /// <summary>Restores Adam's moments and step, and the noise counter, for an exact resume.</summary>
    public void Restore(Vae.Gpu.Model.Vae vae, Adam adam)
    {
        if (Optimizer is null) return;
        var store = vae.Parameters;
        var m = new float[store.Count];
        var v = new float[store.Count];
        foreach (var p in store.Parameters)
        {
            Optimizer.M[p.Name].CopyTo(m, p.Offset);
            Optimizer.V[p.Name].CopyTo(v, p.Offset);
        }
        adam.M.CopyFrom(m);
        adam.V.CopyFrom(v);
        adam.StepCount = Optimizer.Step;
        vae.NoiseStep = Optimizer.NoiseStep;
    }
}

public sealed record OptimizerState(Dictionary<string, float[]> M, Dictionary<string, float[]> V, long Step, ulong NoiseStep);
