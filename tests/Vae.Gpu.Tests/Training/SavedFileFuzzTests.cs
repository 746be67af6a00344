using System.Text;
using Vae.Gpu.Data;
using Vae.Gpu.Devices;
using Vae.Gpu.Training;
using Vae.Gpu.Tuning;

namespace Vae.Gpu.Tests.Training;

/// <summary>
/// Every reader of a saved file meets hundreds of seeded mutations of a real one: the safetensors header and
/// metadata of model and optimizer state, metrics.json, the save journal, the lock file and a tuning cache entry.
/// Each read either succeeds or ends in a <see cref="VaeException"/> (one line for the user), never another
/// exception, and no read changes any file.
/// </summary>
public class SavedFileFuzzTests
{
    static readonly (Split, Split) Tiny = (SyntheticData.Make("train", 48, 1), SyntheticData.Make("test", 20, 2));

    /// <summary>One seeded mutation: flip, drop, duplicate or overwrite bytes, cut the file, or swap a JSON token.</summary>
    static byte[] Mutate(byte[] original, Random rng, int headerBytes)
    {
        var b = original.ToList();
        if (b.Count == 0) return Encoding.UTF8.GetBytes(rng.Next(2) == 0 ? "PID 1" : "\0\xff garbage");
        int span = Math.Max(1, Math.Min(b.Count, headerBytes));
        int at = rng.Next(span);
        switch (rng.Next(7))
        {
            case 0: b[at] ^= (byte)(1 << rng.Next(8)); break;
            case 1: b.RemoveRange(at, Math.Min(rng.Next(1, 8), b.Count - at)); break;
            case 2: b.InsertRange(at, b.Skip(at).Take(rng.Next(1, 8)).ToList()); break;
            case 3: b[at] = (byte)"{}[]\",:0-9enulltrue"[rng.Next(19)]; break;
            case 4: return b.Take(rng.Next(b.Count)).ToArray();
            case 5:
            {
                string text = Encoding.UTF8.GetString(b.Take(span).ToArray());
                string[] tokens = { "null", "-1", "1e999", "\"x\"", "[]", "{}", "NaN", "2147483648", "\"../metrics.json\"" };
                int start = rng.Next(text.Length);
                var m = System.Text.RegularExpressions.Regex.Match(text[start..], "\"[^\"]*\"|-?[0-9.]+|null|true|false");
                if (!m.Success) goto case 0;
                var bytes = Encoding.UTF8.GetBytes(text.Remove(start + m.Index, m.Length).Insert(start + m.Index, tokens[rng.Next(tokens.Length)]));
                return bytes.Concat(b.Skip(span)).ToArray();
            }
            default: b[at] = (byte)rng.Next(256); break;
        }
        return b.ToArray();
    }

    static void Expect(Action read, string what)
    {
        try { read(); }
        catch (VaeException) { }
        catch (Exception e) { Assert.Fail($"{what}: {e.GetType().Name}: {e.Message}"); }
    }

    [SkippableFact]
    public void ReadersOfSavedFilesFailInOneLineAndChangeNothing()
    {
        var device = TestDevices.Get(AcceleratorChoice.Cpu);
        using var dir = new TempDir();
        string run = dir["run"];
        var options = new TrainOptions { OutDir = run, Epochs = 1, BatchSize = 16, C1 = 2, C2 = 2, Latent = 2, MaxBatches = 1, Accelerator = AcceleratorChoice.Cpu };
        new Trainer(options, new PlainObserver(TextWriter.Null)).Run(default, device, Tiny);

        var files = new (string Name, int HeaderBytes)[]
        {
            (Checkpoint.ModelFile, 2000), (Checkpoint.OptimizerFile, 2000), (Metrics.FileName, int.MaxValue),
            (RunJournal.CommitFile, 100), (RunLock.FileName, 100),
        };
        var originals = files.ToDictionary(f => f.Name, f => File.Exists(Path.Combine(run, f.Name)) ? File.ReadAllBytes(Path.Combine(run, f.Name)) : Encoding.UTF8.GetBytes("model.safetensors\nmetrics.json"));
        var rng = new Random(2112);
        int cases = 0;
        foreach (var (name, header) in files)
            for (int i = 0; i < 60; i++, cases++)
            {
                string path = Path.Combine(run, name);
                File.WriteAllBytes(path, Mutate(originals[name], rng, header));
                if (name == RunJournal.CommitFile) Directory.CreateDirectory(Path.Combine(run, RunJournal.StagingFolder));
                var before = TempDir.Snapshot(run);
                Expect(() => Checkpoint.ReadSave(run, forResume: true), $"{name} mutation {i}");
                Expect(() => Checkpoint.ReadSave(run, forResume: false), $"{name} mutation {i}");
                Expect(() => Metrics.TryLoad(run), $"{name} mutation {i}");
                Assert.Equal(before, TempDir.Snapshot(run));
                // Restore the folder for the next case.
                if (name == RunJournal.CommitFile) { File.Delete(path); Directory.Delete(Path.Combine(run, RunJournal.StagingFolder), true); }
                else File.WriteAllBytes(path, originals[name]);
            }

        // A tuning cache entry: a corrupt one is ignored with one note, never an exception.
        var config = new Vae.Gpu.Model.VaeConfig(2, 2, 2, 3);
        var key = TuningCache.Key(device, config, 16);
        string entry = TuningCache.Save(key, new TuneResult(DateTime.UtcNow, new List<TunedChoice> { new("conv", "(16,1,28,28)*(2,1,3,3)", 2, "Coalesced", 1, 1e-3, 2e-3) }, new List<Vae.Gpu.Diagnostics.LabRow>()));
        var good = File.ReadAllBytes(entry);
        for (int i = 0; i < 60; i++, cases++)
        {
            File.WriteAllBytes(entry, Mutate(good, rng, int.MaxValue));
            var notes = new List<string>();
            var tuned = TuningCache.Load(device, config, 16, notes.Add);
            Assert.True(tuned is not null || notes.Count <= 1, $"tuning cache mutation {i}: {string.Join(" | ", notes)}");
        }
        File.Delete(entry);
        Assert.True(cases >= 300);
    }

    /// <summary>
    /// The variables the library reads, each set to seeded values from numbers, words and shapes, under a real
    /// command (evaluate, which opens the device, reads the tuning cache and the run): it succeeds or fails in one
    /// line without an exception's type name, and the run it reads is unchanged.
    /// </summary>
    [Trait("Category", "Slow")]
    [SkippableFact]
    public void EnvironmentVariablesOfAnyValueEndInSuccessOrOneLine()
    {
        SyntheticData.SkipWithoutRealData();
        using var dir = new TempDir();
        string run = dir["run"];
        var (trained, _, trainErr) = Cli.CliTests.Run(Cli.CliProcess.Tiny(run, 1).ToArray());
        Assert.True(trained == 0, trainErr);
        var before = TempDir.Snapshot(run);
        string[] variables =
        {
            EnvironmentSwitches.Conv, EnvironmentSwitches.Gemm, EnvironmentSwitches.WeightGrad, EnvironmentSwitches.GroupSize,
            EnvironmentSwitches.TargetThreads, EnvironmentSwitches.CpuDevice, EnvironmentSwitches.NoTune,
        };
        string[] values =
        {
            "-1", "0", "1", "2", "3", "6", "7", "16", "17", "99", "5000", "2147483648", "1e3", "abc", " ", "true", "yes", "No", "maybe",
            "1,1,1", "2,2,2", "3,3,1", "4,4,2", "2,8,1", "0,0,0", "4,4", "4,4,2,1", "٣", "4 ,4, 2",
        };
        var rng = new Random(34);
        for (int i = 0; i < 100; i++)
        {
            string variable = variables[rng.Next(variables.Length)], value = values[rng.Next(values.Length)];
            string? old = Environment.GetEnvironmentVariable(variable);
            Environment.SetEnvironmentVariable(variable, value);
            try
            {
                var (code, _, err) = Cli.CliTests.Run("evaluate", "--run", run, "--out", dir[$"e{i}"], "--images", "5", "--k", "1", "--accelerator", "cpu");
                string what = $"{variable}={value}: exit {code}: {err}";
                if (code != 0)
                {
                    Assert.True(err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length == 1, what);
                    Assert.StartsWith("error: ", err);
                }
                Assert.DoesNotContain("unexpected", err);
                Assert.DoesNotContain("Exception", err);
                Assert.Equal(before, TempDir.Snapshot(run));
            }
            finally { Environment.SetEnvironmentVariable(variable, old); }
        }
    }
}
