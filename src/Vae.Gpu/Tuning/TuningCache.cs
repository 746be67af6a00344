using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using Vae.Gpu.Devices;
using Vae.Gpu.IO;
using Vae.Gpu.Model;

namespace Vae.Gpu.Tuning;

/// <summary>
/// The per-user cache of tuned kernel versions (<c>$XDG_CACHE_HOME/vae-gpu/</c>, else <c>~/.cache/vae-gpu/</c>): one
/// file per key, the key being the device, its driver or runtime, the profile (launch sizes), the model's shapes and
/// batch, and the build of the kernels. An entry that is corrupt or was written for another key is ignored with a
/// note, never trusted and never a crash.
/// </summary>
public static class TuningCache
{
    const int Format = 1;

    public static string Folder()
    {
        string home = EnvironmentSwitches.Text(EnvironmentSwitches.CacheHome)
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(home, "vae-gpu");
    }

    /// <summary>What an entry must match to be used, field by field.</summary>
    public static SortedDictionary<string, string> Key(ComputeDevice device, VaeConfig config, int batch) => new(StringComparer.Ordinal)
    {
        ["device"] = device.Name,
        ["runtime"] = Runtime(device),
        ["profile"] = device.Profile.ToString(),
        ["shapes"] = $"{config.Describe()} batch={batch}",
        // The kernels' build: Vae.Gpu.Kernels holds the kernels with their rules and launchers, and a deterministic
        // build's module id changes only when that assembly does, so an edit to the library around it keeps a tune.
        ["kernels"] = typeof(Kernels.ConvFamily).Assembly.ManifestModule.ModuleVersionId.ToString(),
    };

    static string Runtime(ComputeDevice device) => device.Accelerator switch
    {
        CudaAccelerator cuda => $"CUDA driver {cuda.DriverVersion}, {cuda.Architecture}",
        CLAccelerator cl => $"{cl.PlatformName} {cl.PlatformVersion}, OpenCL C {cl.CVersion}",
        _ => $"ILGPU {typeof(ILGPU.Context).Assembly.GetName().Version}, .NET {Environment.Version}, {Environment.ProcessorCount} cores",
    };

    public static string PathFor(SortedDictionary<string, string> key)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\n", key.Select(kv => $"{kv.Key}={kv.Value}"))));
        return Path.Combine(Folder(), $"tuned-{Convert.ToHexString(hash, 0, 8).ToLowerInvariant()}.json");
    }

    /// <summary>The tuned versions for this device and run, or null (no entry, switched off, or unusable: then
    /// <paramref name="note"/> hears one line saying why).</summary>
    public static TunedVersions? Load(ComputeDevice device, VaeConfig config, int batch, Action<string>? note)
    {
        if (EnvironmentSwitches.Flag(EnvironmentSwitches.NoTune)) return null;
        var key = Key(device, config, batch);
        string path = PathFor(key);
        if (!File.Exists(path)) return null;
        try { return Parse(File.ReadAllText(path), key); }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException or InvalidCastException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            note?.Invoke($"ignoring the tuning cache entry {path}: {e.Message.ReplaceLineEndings(" ")}; run vae-gpu tune to measure again");
            return null;
        }
    }

    /// <summary>Reads an entry; throws <see cref="FormatException"/> naming what is wrong.</summary>
    public static TunedVersions Parse(string json, SortedDictionary<string, string> key)
    {
        var doc = JsonNode.Parse(json) as JsonObject ?? throw new FormatException("not a JSON object");
        if (doc["format"]?.GetValue<int>() != Format) throw new FormatException($"format is not {Format}");
        var storedKey = doc["key"] as JsonObject ?? throw new FormatException("no key");
        foreach (var (name, value) in key)
            if (storedKey[name]?.GetValue<string>() != value) throw new FormatException($"stale: written for another {name}");
        var date = DateTime.Parse(doc["tuned_at"]?.GetValue<string>() ?? throw new FormatException("no tuned_at"), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
        var choices = new Dictionary<string, int>();
        foreach (var node in doc["choices"] as JsonArray ?? throw new FormatException("no choices"))
        {
            var choice = node as JsonObject ?? throw new FormatException("a choice is not an object");
            string family = choice["family"]?.GetValue<string>() ?? throw new FormatException("a choice has no family");
            string call = choice["call"]?.GetValue<string>() ?? throw new FormatException("a choice has no call");
            int version = choice["version"]?.GetValue<int>() ?? throw new FormatException("a choice has no version");
            // An entry is used whole or not at all: a version no row declares, or a call chosen twice, spoils it.
            if (!Kernels.KernelFamilies.Rows.Any(r => r.Family == family && r.Number == version))
                throw new FormatException($"{family} has no version {version} (at {call})");
            if (!choices.TryAdd(TunedVersions.Key(family, call), version))
                throw new FormatException($"{family} {call} is chosen twice");
        }
        return new TunedVersions(date, choices);
    }

    /// <summary>
    /// Throws a <see cref="Devices.VaeException"/> naming the problem when the entry for <paramref name="key"/> could
    /// not be written (its folder is a file or read-only, its path a folder): checked before a tune measures anything.
    /// </summary>
    public static void EnsureWritable(SortedDictionary<string, string> key)
    {
        string path = PathFor(key), folder = Path.GetDirectoryName(path)!;
        try
        {
            if (Directory.Exists(path)) throw new IOException($"{path} is a folder");
            Directory.CreateDirectory(folder);
            string probe = Path.Combine(folder, $".write-test-{Environment.ProcessId}");
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new Devices.VaeException($"the tuning cache cannot be written ({e.Message.TrimEnd('.')}); fix {folder}, " +
                                           $"or point {EnvironmentSwitches.CacheHome} elsewhere");
        }
    }

    /// <summary>Writes the entry atomically and returns its path.</summary>
    public static string Save(SortedDictionary<string, string> key, TuneResult result)
    {
        string path = PathFor(key);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var doc = new JsonObject
        {
            ["format"] = Format,
            ["key"] = new JsonObject(key.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["tuned_at"] = result.Date.ToString("O", CultureInfo.InvariantCulture),
            ["choices"] = new JsonArray(result.Choices.Select(c => (JsonNode)c.ToJson()).ToArray()),
        };
        AtomicFile.WriteAllText(path, doc.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return path;
    }
}
