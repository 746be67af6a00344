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
        try { m = JsonSerializer.Deserialize<Metrics>(File.ReadAllText(path), JsonNumbers.Options); }
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
        }
        return m;
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
