using System.Text.Json;
using System.Text.Json.Serialization;
using Vae.Gpu.Devices;
using Vae.Gpu.IO;

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
        foreach (var (name, min) in new[] { ("epochs", 1), ("batch", 1), ("c1", 1), ("c2", 1), ("latent", 1), ("kernel", 1), ("seed", 0) })
            if (Whole(name, min) is { } why) return why;
        if (!config.TryGetValue("lr", out var lr)) return "lr is missing";
        if (!(lr.ValueKind == JsonValueKind.Number && lr.TryGetDouble(out double rate) && rate > 0 && double.IsFinite(rate)))
            return $"lr is {lr.GetRawText()}, not a positive number";
        if (config.TryGetValue("max_batches", out var mb) && mb.ValueKind != JsonValueKind.Null && Whole("max_batches", 1) is { } cut) return cut;
        if (!config.TryGetValue("kl", out var kl) || kl.ValueKind != JsonValueKind.String || kl.GetString() is not ("seed" or "standard"))
            return $"kl is {(config.ContainsKey("kl") ? kl.GetRawText() : "missing")}, not \"seed\" or \"standard\"";
        return null;
    }

    /// <summary>The model sizes the config records: (c1, c2, latent, kernel).</summary>
    public (int C1, int C2, int Latent, int Kernel) ModelSizes() =>
        (Config["c1"].GetInt32(), Config["c2"].GetInt32(), Config["latent"].GetInt32(), Config["kernel"].GetInt32());
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
