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
    [JsonPropertyName("accelerator")] public string Accelerator { get; set; } = "";
    [JsonPropertyName("epochs")] public List<EpochMetrics> Epochs { get; set; } = new();

    static readonly JsonSerializerOptions Options = new() { WriteIndented = true };

    public void SaveTo(string path) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, Options));

    public static Metrics? TryLoad(string dir)
    {
        string path = Path.Combine(dir, FileName);
        if (!File.Exists(path)) return null;
        try { return JsonSerializer.Deserialize<Metrics>(File.ReadAllText(path), Options); }
        catch (JsonException e) { throw new VaeException($"{path} is not valid metrics JSON ({e.Message}); delete it or start a new run"); }
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
}
