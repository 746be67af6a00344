using System.Globalization;
using Vae.Gpu.Devices;
using Vae.Gpu.IO;
using Vae.Gpu.Kernels;
using Vae.Gpu.Model;
using Vae.Gpu.Optim;

namespace Vae.Gpu.Training;

/// <summary>
/// DIR/model.safetensors (the contract: PyTorch names and layouts, metadata c1, c2, lat, k, kl, epoch,
/// seed) with DIR/optimizer.safetensors (Adam's m and v, its step, the noise step, the run's batch size,
/// learning rate and epoch length) and DIR/metrics.json: one unit, committed together (see <see cref="RunJournal"/>),
/// and tied by a shared identity: the run id and Adam's step are in both safetensors files.
/// </summary>
public sealed record Checkpoint(VaeConfig Config, int Epoch, int Seed, Dictionary<string, float[]> Parameters, OptimizerState? Optimizer)
{
    public const string ModelFile = "model.safetensors", OptimizerFile = "optimizer.safetensors";

    public static string ModelPath(string dir) => Path.Combine(dir, ModelFile);

    /// <summary>The run's identity: a new id when a run starts, kept through resumes.</summary>
    public string? RunId { get; init; }

    /// <summary>True when the model came from PyTorch (no vae-gpu metadata): no epoch, seed or optimizer state.</summary>
    public bool FromPyTorch { get; init; }

    /// <summary>Commits model, optimizer state and metrics of one epoch together: a crash at any instant leaves this save or the previous one, whole.</summary>
    public static void Save(string dir, Vae.Gpu.Model.VAE vae, Adam adam, int epoch, int seed, string runId, TrainingSettings settings, Metrics metrics)
    {
        var c = vae.Config;
        string I(long v) => v.ToString(CultureInfo.InvariantCulture);
        var meta = new Dictionary<string, string>
        {
            ["c1"] = I(c.C1), ["c2"] = I(c.C2), ["lat"] = I(c.Latent), ["k"] = I(c.Kernel),
            ["kl"] = VaeConfig.KlName(c.Kl), ["epoch"] = I(epoch), ["seed"] = I(seed),
            ["run_id"] = runId, ["adam_step"] = I(adam.StepCount),
            ["image_channels"] = I(c.ImageChannels), ["height"] = I(c.Height), ["width"] = I(c.Width),
        };
        if (c.NotebookNames) meta["channels"] = string.Join(",", c.ConvChannels);
        var store = vae.Parameters;
        var m = adam.M.ToArray();
        var v = adam.V.ToArray();
        var moments = store.Parameters.SelectMany(p => new[]
        {
            new NamedTensor("m." + p.Name, p.Shape, m.AsSpan(p.Offset, p.Length).ToArray()),
            new NamedTensor("v." + p.Name, p.Shape, v.AsSpan(p.Offset, p.Length).ToArray()),
        }).ToList();
        var optMeta = new Dictionary<string, string>(meta)
        {
            ["noise_step"] = vae.NoiseStep.ToString(CultureInfo.InvariantCulture),
            ["lr"] = settings.LearningRate.ToString("R", CultureInfo.InvariantCulture),
            ["batch"] = I(settings.BatchSize),
            ["max_batches"] = settings.MaxBatches is int mb ? I(mb) : "",
        };
        var values = store.ToHost();
        var model = store.Parameters.Select(p => new NamedTensor(p.Name, p.Shape, values[p.Name])).ToList();
        RunJournal.Commit(dir, new (string, Action<string>)[]
        {
            (OptimizerFile, path => Safetensors.Write(path, moments, optMeta)),
            (ModelFile, path => Safetensors.Write(path, model, meta)),
            (Metrics.FileName, path => metrics.SaveTo(path)),
        });
    }

    /// <summary>
    /// Reads and checks a checkpoint folder. The optimizer state is read only when <paramref name="readOptimizer"/>
    /// (resuming needs it; analysis uses the model alone), and must be from the same save as the model. A
    /// model.safetensors without our metadata is taken as a PyTorch state_dict of the problem set's VAE
    /// (<c>safetensors.torch.save_file(vae.state_dict(), ...)</c>): c1, c2, lat and k are read from the shapes,
    /// the KL is the problem set's, and it has no epoch.
    /// </summary>
    public static Checkpoint Load(string dir, bool readOptimizer = false) =>
        RunJournal.ReadCommitted(dir, pathOf => Load(dir, readOptimizer, pathOf));

    /// <summary>
    /// The checkpoint and metrics.json of one committed save (<see cref="RunJournal.ReadCommitted{T}"/>): the
    /// metrics must end at the model's epoch. Resuming needs both files and the optimizer state, all finite.
    /// </summary>
    public static (Checkpoint Checkpoint, Metrics? Metrics) ReadSave(string dir, bool forResume) =>
        RunJournal.ReadCommitted(dir, pathOf =>
        {
            var checkpoint = Load(dir, forResume, pathOf);
            string metricsPath = pathOf(Metrics.FileName);
            var metrics = File.Exists(metricsPath) ? Metrics.Load(metricsPath) : null;
            if (checkpoint.FromPyTorch) return (checkpoint, metrics);
            if (metrics is null)
            {
                if (forResume)
                    throw new VaeException($"{dir} holds a checkpoint but no {Metrics.FileName}, which is saved with it; restore the file from the same save, or start a new run with «Overwrite»");
                return (checkpoint, null);
            }
            int last = metrics.Epochs.Count == 0 ? 0 : metrics.Epochs[^1].Epoch;
            if (last != checkpoint.Epoch)
                throw new MixedSaveException(
                    $"{ModelPath(dir)} is from epoch {checkpoint.Epoch} but {metricsPath} ends at epoch {last}: files of different saves; restore both from one save, or start a new run with «Overwrite»");
            string recorded = metrics.Model().Describe(), held = checkpoint.Config.Describe();
            if (recorded != held)
                throw new MixedSaveException(
                    $"{metricsPath} records {recorded} but {ModelPath(dir)} holds {held}: " +
                    "files of different runs; restore both from one save, or start a new run with «Overwrite»");
            return (checkpoint, metrics);
        });

    static Checkpoint Load(string dir, bool readOptimizer, Func<string, string> pathOf)
    {
        string path = pathOf(ModelFile);
        var (tensors, meta) = Safetensors.Read(path);
        bool ours = meta.ContainsKey("c1");
        var m = new MetadataReader(path, meta);
        var config = ours ? m.Config() : ConfigFromShapes(path, tensors);
        try { config.Validate(); }
        catch (VaeException e) { throw Safetensors.Corrupt(path, $"impossible hyperparameters ({e.Message})"); }
        CheckShapes(path, config, tensors);
        int epoch = ours ? m.Int("epoch") : 0, seed = ours ? m.Int("seed") : 0;
        string? runId = meta.GetValueOrDefault("run_id");

        OptimizerState? optimizer = null;
        string optPath = pathOf(OptimizerFile);
        if (readOptimizer)
        {
            if (!ours)
                throw new VaeException($"{path} is a PyTorch state_dict without Adam's state, so training cannot resume from it; analyze it, or start a new run");
            if (!File.Exists(optPath))
                throw new VaeException($"{dir} has no {OptimizerFile}, so training cannot resume with Adam's state; analyze the model, or start a new run with «Overwrite»");
            var (moments, optMeta) = Safetensors.Read(optPath);
            var o = new MetadataReader(optPath, optMeta);
            long step = o.Long("adam_step");
            // Older checkpoints carry no run id or step in the model; then the epochs must agree.
            bool sameSave = optMeta.GetValueOrDefault("run_id") == runId && o.Int("epoch") == epoch
                && (!meta.ContainsKey("adam_step") || m.Long("adam_step") == step);
            if (!sameSave)
                throw new VaeException(
                    $"{path} (run {runId ?? "?"}, epoch {epoch}) and {optPath} (run {optMeta.GetValueOrDefault("run_id") ?? "?"}, epoch {o.Int("epoch")}, step {step}) " +
                    "are from different saves; analyze the model alone, restore both files from one save, or start a new run with «Overwrite»");
            foreach (var (name, shape) in Specs(config))
                foreach (var prefix in new[] { "m.", "v." })
                    if (!moments.TryGetValue(prefix + name, out var t) || !t.Shape.SequenceEqual(shape))
                        throw Safetensors.Corrupt(optPath, $"it lacks {prefix}{name} of shape [{string.Join(",", shape)}]");
            // A resume would train on from these and save over the last good checkpoint: they must be numbers.
            var badWeight = tensors.FirstOrDefault(kv => kv.Value.Data.Any(x => !float.IsFinite(x)));
            if (badWeight.Key is not null)
                throw Safetensors.Corrupt(path, $"{badWeight.Key} holds NaN or infinite values, so training cannot resume from it");
            var badMoment = moments.FirstOrDefault(kv => kv.Value.Data.Any(x => !float.IsFinite(x) || (kv.Key.StartsWith("v.") && x < 0)));
            if (badMoment.Key is not null)
                throw Safetensors.Corrupt(optPath, $"{badMoment.Key} holds {(badMoment.Key.StartsWith("v.") ? "negative, " : "")}NaN or infinite values, which Adam never writes");
            optimizer = new OptimizerState(
                moments.Where(kv => kv.Key.StartsWith("m.")).ToDictionary(kv => kv.Key[2..], kv => kv.Value.Data),
                moments.Where(kv => kv.Key.StartsWith("v.")).ToDictionary(kv => kv.Key[2..], kv => kv.Value.Data),
                step, o.ULong("noise_step"), o.Settings());
        }

        return new Checkpoint(config, epoch, seed, tensors.ToDictionary(kv => kv.Key, kv => kv.Value.Data), optimizer)
        {
            FromPyTorch = !ours,
            RunId = runId,
        };
    }

    /// <summary>Typed metadata fields; each missing or malformed one is a one-line corrupt-checkpoint error naming it.</summary>
    sealed class MetadataReader(string path, Dictionary<string, string> meta)
    {
        string Raw(string key) => meta.TryGetValue(key, out var s) ? s : throw Safetensors.Corrupt(path, $"metadata '{key}' is missing");

        public long Long(string key, long min = 0) =>
            long.TryParse(Raw(key), NumberStyles.None, CultureInfo.InvariantCulture, out long v) && v >= min ? v
                : throw Safetensors.Corrupt(path, $"metadata '{key}' is '{Raw(key)}', not a whole number >= {min}");

        public int Int(string key) => Long(key) <= int.MaxValue ? (int)Long(key) : throw Safetensors.Corrupt(path, $"metadata '{key}' is '{Raw(key)}', too large");

        public ulong ULong(string key) =>
            ulong.TryParse(Raw(key), NumberStyles.None, CultureInfo.InvariantCulture, out ulong v) ? v
                : throw Safetensors.Corrupt(path, $"metadata '{key}' is '{Raw(key)}', not a whole number >= 0");

        /// <summary>The model: the problem set's (c1, c2) or a channel list, on images of the recorded shape (28x28 gray when not recorded).</summary>
        public VaeConfig Config()
        {
            int image = meta.ContainsKey("image_channels") ? Int("image_channels") : 1;
            int height = meta.ContainsKey("height") ? Int("height") : VaeConfig.ImageSide, width = meta.ContainsKey("width") ? Int("width") : VaeConfig.ImageSide;
            if (!meta.TryGetValue("channels", out var list))
                return new VaeConfig(Int("c1"), Int("c2"), Int("lat"), Int("k"), Kl()).ForImages(image, height, width);
            var channels = list.Split(',').Select(t => int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out int v) ? v
                : throw Safetensors.Corrupt(path, $"metadata 'channels' is '{list}', not a comma-separated list of whole numbers")).ToArray();
            return VaeConfig.FromChannels(channels, Int("lat"), Int("k"), Kl(), image, height, width);
        }

        public KlKind Kl() => meta.GetValueOrDefault("kl", "seed") switch
        {
            "seed" => KlKind.Seed,
            "standard" => KlKind.Standard,
            var other => throw Safetensors.Corrupt(path, $"metadata 'kl' is '{other}', neither seed nor standard"),
        };

        /// <summary>The run's batch size, learning rate and epoch length (absent in older checkpoints: null).</summary>
        public TrainingSettings? Settings()
        {
            if (!meta.ContainsKey("batch")) return null;
            string lr = Raw("lr"), maxBatches = Raw("max_batches");
            return new TrainingSettings(
                Int("batch") is >= 1 and var b ? b : throw Safetensors.Corrupt(path, "metadata 'batch' is 0"),
                float.TryParse(lr, NumberStyles.Float, CultureInfo.InvariantCulture, out float l) && l > 0 && float.IsFinite(l) ? l
                    : throw Safetensors.Corrupt(path, $"metadata 'lr' is '{lr}', not a positive number"),
                maxBatches == "" ? null : Int("max_batches"));
        }
    }

    /// <summary>
    /// The model from a state_dict's shapes, either the problem set's (encoder.conv1.weight [c1, C, k, k],
    /// encoder.conv2.weight [c2, c1, k, k]) or the notebook's (encoder.convs.{i}.weight); the image is taken as
    /// square, its side from mean.weight [lat, c_N h h]. <see cref="CheckShapes"/> checks the rest.
    /// </summary>
    static VaeConfig ConfigFromShapes(string path, Dictionary<string, NamedTensor> tensors)
    {
        int[] Shape(string name, int rank) =>
            tensors.TryGetValue(name, out var t) && t.Shape.Length == rank ? t.Shape
                : throw new VaeException($"checkpoint {path} has no vae-gpu metadata and no {rank}-D {name}, so it is not a state_dict of the problem set's VAE or the notebook's; save one with safetensors.torch.save_file(vae.state_dict(), path)");
        bool notebook = tensors.ContainsKey("encoder.convs.0.weight");
        var convs = new List<int[]>();
        if (notebook)
            for (int i = 0; tensors.ContainsKey($"encoder.convs.{i}.weight"); i++) convs.Add(Shape($"encoder.convs.{i}.weight", 4));
        else { convs.Add(Shape("encoder.conv1.weight", 4)); convs.Add(Shape("encoder.conv2.weight", 4)); }
        var mean = Shape("encoder.mean.weight", 2);
        int k = convs[0][2], last = convs[^1][0], depth = convs.Count;
        int side = (int)Math.Round(Math.Sqrt(mean[1] / (double)Math.Max(1, last)));
        if (side < 1 || last * side * side != mean[1])
            throw new VaeException($"checkpoint {path}: encoder.mean.weight is [{mean[0]},{mean[1]}], which is not {last} channels of a square feature map; vae-gpu reads state_dicts of square images");
        int imageSide = side + depth * (k - 1), imageChannels = convs[0][1];
        return notebook
            ? VaeConfig.FromChannels(convs.Select(c => c[0]).ToArray(), mean[0], k, KlKind.Seed, imageChannels, imageSide, imageSide)
            : new VaeConfig(convs[0][0], convs[1][0], mean[0], k).ForImages(imageChannels, imageSide, imageSide);
    }

    static IEnumerable<(string, int[])> Specs(VaeConfig c) => Encoder.Specs(c).Concat(Decoder.Specs(c));

    static void CheckShapes(string path, VaeConfig config, Dictionary<string, NamedTensor> tensors)
    {
        foreach (var (name, shape) in Specs(config))
        {
            if (!tensors.TryGetValue(name, out var t))
                throw new VaeException($"checkpoint {path} lacks tensor {name}");
            if (!t.Shape.SequenceEqual(shape))
                throw new VaeException($"checkpoint {path}: {name} is [{string.Join(",", t.Shape)}] but {config.Describe()} needs [{string.Join(",", shape)}]");
        }
    }

    /// <summary>
    /// A run's committed model and metrics for use (analysis, evaluation, encoding, export): refused in one line when
    /// the folder holds no model, or when a weight is not finite; <paramref name="refusal"/> ends that line (what the
    /// caller cannot do, and what to do instead).
    /// </summary>
    public static (Checkpoint Checkpoint, Metrics? Metrics) ReadForUse(string runDir, string refusal)
    {
        if (!File.Exists(ModelPath(runDir)) && !RunJournal.HasPendingCommit(runDir))
            throw new VaeException($"{runDir} holds no {ModelFile}; give a folder that 'vae-gpu train' or 'vae-gpu run' wrote");
        var (checkpoint, metrics) = ReadSave(runDir, forResume: false);
        checkpoint.RequireFiniteWeights(runDir, refusal);
        return (checkpoint, metrics);
    }

    /// <summary>Refuses weights that are not finite, naming the first such tensor; <paramref name="refusal"/> ends the line.</summary>
    public void RequireFiniteWeights(string runDir, string refusal)
    {
        var bad = Parameters.FirstOrDefault(p => p.Value.Any(v => !float.IsFinite(v)));
        if (bad.Key is not null)
            throw new VaeException($"the weights in {ModelPath(runDir)} hold NaN or infinite values ({bad.Key}){refusal}");
    }

    /// <summary>A model on <paramref name="device"/> with this checkpoint's weights.</summary>
    public Vae.Gpu.Model.VAE CreateModel(ComputeDevice device, int lossCapacity = Vae.Gpu.Model.VAE.DefaultLossCapacity)
    {
        var vae = new Vae.Gpu.Model.VAE(device, Config, Seed, lossCapacity);
        vae.Parameters.Load(Parameters);
        return vae;
    }

    /// <summary>Restores Adam's moments and step, and the noise counter, for an exact resume.</summary>
    public void Restore(Vae.Gpu.Model.VAE vae, Adam adam)
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

public sealed record OptimizerState(Dictionary<string, float[]> M, Dictionary<string, float[]> V, long Step, ulong NoiseStep, TrainingSettings? Settings);

/// <summary>How a run trains, kept with its optimizer state so that a resume continues the same way.</summary>
public sealed record TrainingSettings(int BatchSize, float LearningRate, int? MaxBatches);
