using System.Text.Json.Nodes;
using Vae.Gpu.Devices;
using Vae.Gpu.Diagnostics;
using Vae.Gpu.Model;
using Vae.Gpu.Tuning;

namespace Vae.Gpu.Tests.Tuning;

/// <summary><c>vae-gpu tune</c>: the choice by measurement, its cache, and the runs that use it.</summary>
public class TuningTests
{
    static readonly VaeConfig Small = new(4, 6, 3, 3);

    /// <summary>Runs <paramref name="body"/> and leaves the shared test device on its profile's defaults again.</summary>
    static void OnDefaultsAfter(ComputeDevice device, Action body)
    {
        try { body(); }
        finally { device.Versions.Tuned = null; }
    }

    [Fact]
    public void TheKeyIsTheKernelsBuildTheProfileTheDeviceItsDriverAndTheShapesAndNothingElse()
    {
        var device = TestDevices.Get(AcceleratorChoice.Cpu);
        var key = TuningCache.Key(device, Small, 3);
        Assert.Equal(new[] { "device", "kernels", "profile", "runtime", "shapes" }, key.Keys);
        Assert.Equal(typeof(Vae.Gpu.Kernels.ConvFamily).Assembly.ManifestModule.ModuleVersionId.ToString(), key["kernels"]);
        // An edit to the library around the kernels (the analysis, the CLI) must not throw away a tune.
        string library = typeof(TuningCache).Assembly.ManifestModule.ModuleVersionId.ToString();
        Assert.DoesNotContain(key.Values, v => v.Contains(library));
        Assert.Equal("c1=4 c2=6 latent=3 kernel=3 batch=3", key["shapes"]);
        Assert.Equal(device.Name, key["device"]);
    }

    static LabRow Row(int version, double ms, double error = 0.1, string? notRun = null) =>
        new("conv", version, $"v{version}", "", "call", version == 1, notRun is null ? error : null, notRun is null ? ms / 1e3 : null, default, notRun);

    [Fact]
    public void PickKeepsTheDefaultUnlessAnAgreeingVersionIsClearlyFaster()
    {
        // Within the noise: the default stays.
        Assert.Equal(1, Tuner.Pick(new[] { Row(1, 10), Row(2, 9.8), Row(3, 12) }, 1)!.Version);
        // 10% faster and agreeing: it replaces the default.
        Assert.Equal(2, Tuner.Pick(new[] { Row(1, 10), Row(2, 9.0), Row(3, 12) }, 1)!.Version);
        // Faster but disagreeing with the reference, or not run: never picked.
        Assert.Equal(1, Tuner.Pick(new[] { Row(1, 10), Row(2, 5, error: 3), Row(3, 1, notRun: "rule") }, 1)!.Version);
        // A default that disagrees gives way to the fastest that agrees.
        Assert.Equal(3, Tuner.Pick(new[] { Row(1, 10, error: 2), Row(2, 12), Row(3, 11) }, 1)!.Version);
        // None agrees: nothing to pick.
        Assert.Null(Tuner.Pick(new[] { Row(1, 10, error: 2), Row(2, 12, error: 5) }, 1));
    }

    [SkippableTheory, MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void TuneChoosesPerCallNeverWorseThanTheDefaultAndARunUsesIt(AcceleratorChoice choice)
    {
        var device = TestDevices.Get(choice);
        OnDefaultsAfter(device, () =>
        {
            var result = Tuner.Run(device, Small, batch: 3, repeats: 3);
            var step = KernelCases.Step(device, Small, 3);
            Assert.Equal(step.Select(c => c.Key).Order(), result.Choices.Select(c => $"{c.Family} {c.Call}").Order());
            foreach (var c in result.Choices)
            {
                // Each choice is the rule's pick among that call's measured rows (the rule itself: PickKeeps...).
                var rows = result.Lab.Where(r => r.Family == c.Family && r.Call == c.Call).ToList();
                Assert.Equal(Tuner.Pick(rows, c.Default)!.Version, c.Version);
                Assert.Contains(result.Lab, r => r.Family == c.Family && r.Call == c.Call && r.Version == c.Version && r.Passed && r.Ran);
            }

            var key = TuningCache.Key(device, Small, 3);
            string path = TuningCache.Save(key, result);
            Assert.StartsWith(TuningCache.Folder(), path);
            var notes = new List<string>();
            Tuner.Apply(device, Small, 3, allowTuning: false, notes.Add);
            Assert.NotNull(device.Versions.Tuned);
            Assert.Equal(new[] { $"kernel versions: tuned on {result.Date:yyyy-MM-dd}" }, notes);
            foreach (var c in step)
                Assert.Equal(result.Choices.Single(x => $"{x.Family} {x.Call}" == c.Key).Version, c.Chosen(device.Versions));

            // Another batch size has no entry: the profile's defaults, said so.
            notes.Clear();
            Tuner.Apply(device, Small, 5, allowTuning: false, notes.Add);
            Assert.Null(device.Versions.Tuned);
            Assert.Equal(new[] { "kernel versions: profile defaults" }, notes);
            File.Delete(path);
        });
    }

    [Trait("Category", "Slow")]
    [SkippableTheory, MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void BenchReportsTheTunedSourceAndTheChosenVersions(AcceleratorChoice choice)
    {
        var device = TestDevices.Get(choice);
        OnDefaultsAfter(device, () =>
        {
            var config = new VaeConfig();
            var result = Tuner.Run(device, config, batch: 2, repeats: 1);
            device.Versions.Tuned = result.ToVersions();
            var bench = Benchmark.Run(device, batch: 2, repeats: 1, print: null);
            var json = JsonNode.Parse(bench.ToJson())!;
            Assert.Equal("tuned", json["profile"]!["source"]!.GetValue<string>());
            var chosen = json["profile"]!["chosen"]!.AsArray();
            Assert.Equal(result.Choices.Count, chosen.Count);
            foreach (var c in result.Choices)
                Assert.Contains(chosen, n => n!["call"]!.GetValue<string>() == c.Call && n["version"]!.GetValue<int>() == c.Version);
        });
    }

    /// <summary>A cache that cannot be written is found before any measuring: the folder replaced by a file, or
    /// the entry's own path a folder. One line, nothing measured.</summary>
    [Fact]
    public void TuneRefusesAnUnwritableCacheBeforeMeasuring()
    {
        var device = TestDevices.Get(AcceleratorChoice.Cpu);
        string cache = Environment.GetEnvironmentVariable(EnvironmentSwitches.CacheHome)!;
        string[] tune = { "tune", "--accelerator", "cpu", "--batch", "3", "--c1", "4", "--c2", "6", "--latent", "3", "--kernel", "3", "--repeats", "1" };
        using var dir = new TempDir();
        try
        {
            // The cache folder is a file.
            File.WriteAllText(dir["vae-gpu"], "not a folder");
            Environment.SetEnvironmentVariable(EnvironmentSwitches.CacheHome, dir.Path);
            var (code, output, err) = Cli.CliTests.Run(tune);
            Cli.CliTests.AssertOneLineError(code, err, "the tuning cache cannot be written");
            Assert.DoesNotContain("kernel lab", output);
            Assert.Equal("not a folder", File.ReadAllText(dir["vae-gpu"]));

            // The entry's path is a folder.
            Environment.SetEnvironmentVariable(EnvironmentSwitches.CacheHome, cache);
            string entry = TuningCache.PathFor(TuningCache.Key(device, Small, 3));
            Directory.CreateDirectory(entry);
            try
            {
                (code, output, err) = Cli.CliTests.Run(tune);
                Cli.CliTests.AssertOneLineError(code, err, "is a folder");
                Assert.DoesNotContain("kernel lab", output);
            }
            finally { Directory.Delete(entry); }
        }
        finally { Environment.SetEnvironmentVariable(EnvironmentSwitches.CacheHome, cache); }
    }

    [SkippableFact]
    public void ACorruptOrStaleEntryIsIgnoredWithOneNote()
    {
        var device = TestDevices.Get(AcceleratorChoice.Cpu);
        OnDefaultsAfter(device, () =>
        {
            var key = TuningCache.Key(device, Small, 7);
            string path = TuningCache.PathFor(key);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            var good = new TuneResult(DateTime.UtcNow, new[] { new TunedChoice("conv", "x", 1, "Tiled", 1, 1e-3, 1e-3) }, Array.Empty<LabRow>());
            TuningCache.Save(key, good);
            string valid = File.ReadAllText(path);
            var stale = JsonNode.Parse(valid)!;
            stale["key"]!["kernels"] = "another build";
            // The same call chosen twice: an entry is used whole or not at all.
            var twice = JsonNode.Parse(valid)!;
            twice["choices"]!.AsArray().Add(JsonNode.Parse(twice["choices"]![0]!.ToJsonString()));
            var mutations = new[]
            {
                "", "{", "null", "[]", "{\"format\": 2}", valid.Replace("\"version\": 1", "\"version\": 0"), valid.Replace("\"version\": 1", "\"version\": \"one\""),
                valid.Replace("\"version\": 1", "\"version\": 99"),
                valid.Replace("\"tuned_at\"", "\"tuned\""), valid.Replace("\"choices\"", "\"choice\""), stale.ToJsonString(), twice.ToJsonString(),
            };
            foreach (var text in mutations)
            {
                File.WriteAllText(path, text);
                var notes = new List<string>();
                Assert.Null(TuningCache.Load(device, Small, 7, notes.Add));
                Assert.Single(notes);
                Assert.Contains("ignoring the tuning cache entry", notes[0]);
                if (text.Contains("\"version\": 99")) Assert.Contains("conv has no version 99", notes[0]);
                if (text == twice.ToJsonString()) Assert.Contains("is chosen twice", notes[0]);
                Assert.Equal(text, File.ReadAllText(path));
            }
            File.WriteAllText(path, valid);
            Assert.NotNull(TuningCache.Load(device, Small, 7, _ => Assert.Fail("a valid entry needs no note")));
            File.Delete(path);
        });
    }
}
