using System.Text.Json;
using System.Text.Json.Serialization;
using Vae.Gpu.Devices;
using Vae.Gpu.Data;
using Vae.Gpu.IO;
using Vae.Gpu.Model;

namespace Vae.Gpu.Training;

/// <summary>DIR/metrics.json, the contract: config, accelerator, and per epoch the losses per image, images/s and seconds.</summary>
public sealed class Metrics
{
    public const string FileName = "metrics.json";

    [JsonPropertyName("config")] public Dictionary<string, JsonElement> Config { get; set; } = new();
    /// <summary>The accelerator of the last epoch; each epoch names its own (a resume may run on another).</summary>
    [JsonPropertyName("accelerator")] public string Accelerator { get; set; } = "";
    [JsonPropertyName("epochs")] public List<EpochMetrics> Epochs { get; set; } = new();

    public void SaveTo(string path) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, JsonNumbers.Options));

    /// <summary>DIR/metrics.json, or null when the folder has none.</summary>
    public static Metrics? TryLoad(string dir)
    {
        string path = Path.Combine(dir, FileName);
        return File.Exists(path) ? Load(path) : null;
    }

    /// <summary>Reads and checks a metrics file as strictly as a checkpoint: anything missing, null or mistyped is one line naming it.</summary>
    public static Metrics Load(string path)
    {
        VaeException Corrupt(string why) => new($"corrupt metrics {path}: {why}; restore it from the same save as the checkpoint, or start a new run with «Overwrite»");
        Metrics? m;
        try
        {
            string text = File.ReadAllText(path);
            // A field left out would deserialize to its default: presence is checked on the document itself.
            using (var doc = JsonDocument.Parse(text))
                if (doc.RootElement.ValueKind == JsonValueKind.Object)
                    foreach (var field in new[] { "config", "accelerator", "epochs" })
                        if (!doc.RootElement.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null)
                            throw Corrupt($"'{field}' is missing or null");
            m = JsonSerializer.Deserialize<Metrics>(text, JsonNumbers.Options);
        }
        catch (JsonException e) { throw Corrupt($"not valid metrics JSON ({e.Message.Split(" Path:")[0]})"); }
        catch (Exception e) when (e is InvalidOperationException or NotSupportedException or ArgumentException) { throw Corrupt(e.Message); }
        if (m is null) throw Corrupt("it is null, not an object");
        if (m.Config is null) throw Corrupt("'config' is missing or null");
        if (m.Accelerator is null) throw Corrupt("'accelerator' is missing or null");
        if (m.Epochs is null) throw Corrupt("'epochs' is missing or null");
        for (int i = 0; i < m.Epochs.Count; i++)
        {
            var e = m.Epochs[i] ?? throw Corrupt($"epochs[{i}] is null");
            if (e.Epoch != i + 1) throw Corrupt($"epochs[{i}] is epoch {e.Epoch}, not {i + 1}");
            if (e.TrainImages < 0 || e.TestImages < 0 || e.Seconds < 0 || e.ImagesPerSecond < 0) throw Corrupt($"epochs[{i}] holds a negative count or time");
            // A loss per image is a summed BCE plus a KL term, both at least 0; a save never holds one that is not finite.
            if (!(e.TrainLoss >= 0 && double.IsFinite(e.TrainLoss)) || !(e.TestLoss >= 0 && double.IsFinite(e.TestLoss)))
                throw Corrupt($"epochs[{i}] holds a loss that is negative or not finite ({e.TrainLoss}, {e.TestLoss})");
        }
        if (CheckConfig(m.Config) is { } bad) throw Corrupt($"config.{bad}");
        return m;
    }

    /// <summary>What is wrong with the config a run writes (<c>Trainer</c>'s fields, each of its type and range), or null.</summary>
    static string? CheckConfig(Dictionary<string, JsonElement> config)
    {
        string? Whole(string name, int min)
        {
            if (!config.TryGetValue(name, out var v)) return $"{name} is missing";
            return v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int n) && n >= min ? null : $"{name} is {v.GetRawText()}, not a whole number of at least {min}";
        }
        bool list = config.TryGetValue("channels", out var channels) && channels.ValueKind != JsonValueKind.Null;
        foreach (var (name, min) in new[] { ("epochs", 1), ("batch", 1), ("latent", 1), ("kernel", 1), ("seed", 0) }.Concat(list ? [] : new[] { ("c1", 1), ("c2", 1) }))
            if (Whole(name, min) is { } why) return why;
        if (list && !(channels.ValueKind == JsonValueKind.Array && channels.GetArrayLength() > 0
                && channels.EnumerateArray().All(v => v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int n) && n >= 1)))
            return $"channels is {channels.GetRawText()}, not a list of whole numbers of at least 1";
        foreach (var name in new[] { "image_channels", "height", "width" })
            if (config.ContainsKey(name) && Whole(name, 1) is { } why) return why;
        if (config.TryGetValue("beta", out var beta) && !(beta.ValueKind == JsonValueKind.Number && beta.TryGetDouble(out double b) && b >= 0 && double.IsFinite(b)))
            return $"beta is {beta.GetRawText()}, not a number of at least 0";
        if (config.TryGetValue("data", out var data) && data.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
            return $"data is {data.GetRawText()}, not a path or null";
        if (config.TryGetValue("test_fraction", out var fraction) && !(fraction.ValueKind == JsonValueKind.Number && fraction.TryGetDouble(out double f) && f > 0 && f < 1))
            return $"test_fraction is {fraction.GetRawText()}, not a number between 0 and 1";
        if (!config.TryGetValue("lr", out var lr)) return "lr is missing";
        if (!(lr.ValueKind == JsonValueKind.Number && lr.TryGetDouble(out double rate) && rate > 0 && double.IsFinite(rate)))
            return $"lr is {lr.GetRawText()}, not a positive number";
        if (config.TryGetValue("max_batches", out var mb) && mb.ValueKind != JsonValueKind.Null && Whole("max_batches", 1) is { } cut) return cut;
        if (!config.TryGetValue("kl", out var kl) || kl.ValueKind != JsonValueKind.String || kl.GetString() is not ("seed" or "standard"))
            return $"kl is {(config.ContainsKey("kl") ? kl.GetRawText() : "missing")}, not \"seed\" or \"standard\"";
        return null;
    }

    int Int(string name, int absent) => Config.TryGetValue(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : absent;

    /// <summary>The model the config records (sizes, channels and images; runs before these fields were 28x28 gray).</summary>
    public VaeConfig Model()
    {
        var kl = VaeConfig.ParseKl(Config["kl"].GetString()!);
        int latent = Config["latent"].GetInt32(), kernel = Config["kernel"].GetInt32();
        int c = Int("image_channels", 1), h = Int("height", VaeConfig.ImageSide), w = Int("width", VaeConfig.ImageSide);
        return Config.TryGetValue("channels", out var list) && list.ValueKind == JsonValueKind.Array
            ? VaeConfig.FromChannels(list.EnumerateArray().Select(v => v.GetInt32()).ToArray(), latent, kernel, kl, c, h, w)
            : new VaeConfig(Config["c1"].GetInt32(), Config["c2"].GetInt32(), latent, kernel, kl).ForImages(c, h, w);
    }

    /// <summary>The KL weight the run trained with (1 when not recorded).</summary>
    public double Beta => Config.TryGetValue("beta", out var b) && b.ValueKind == JsonValueKind.Number ? b.GetDouble() : 1;

    /// <summary>The data the run trained on and how its test set was held out; null for Fashion-MNIST's default.</summary>
    public DataOptions? Data()
    {
        string? path = Config.TryGetValue("data", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString() : null;
        if (path is null) return null;
        double fraction = Config.TryGetValue("test_fraction", out var f) && f.ValueKind == JsonValueKind.Number ? f.GetDouble() : DataOptions.DefaultTestFraction;
        string? labels = Config.TryGetValue("labels", out var l) && l.ValueKind == JsonValueKind.String ? l.GetString() : null;
        return new DataOptions(path, fraction, Int("seed", 0), labels);
    }
}

public sealed class EpochMetrics
{
    [JsonPropertyName("epoch")] public int Epoch { get; set; }
    [JsonPropertyName("train_loss")] public double TrainLoss { get; set; }
    [JsonPropertyName("test_loss")] public double TestLoss { get; set; }
    [JsonPropertyName("images_per_second")] public double ImagesPerSecond { get; set; }
    [JsonPropertyName("seconds")] public double Seconds { get; set; }
    [JsonPropertyName("train_images")] public int TrainImages { get; set; }
    [JsonPropertyName("test_images")] public int TestImages { get; set; }
    /// <summary>Where this epoch was trained (absent in older runs).</summary>
    [JsonPropertyName("accelerator")] public string? Accelerator { get; set; }
}
