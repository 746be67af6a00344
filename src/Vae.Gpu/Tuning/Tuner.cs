using System.Text.Json.Nodes;
using Vae.Gpu.Devices;
using Vae.Gpu.Diagnostics;
using Vae.Gpu.IO;
using Vae.Gpu.Model;

namespace Vae.Gpu.Tuning;

/// <summary>One call's outcome: the version chosen, the profile's default, and both times.</summary>
public sealed record TunedChoice(string Family, string Call, int Version, string Kernel, int Default, double Seconds, double DefaultSeconds)
{
    public JsonObject ToJson() => new()
    {
        ["family"] = Family, ["call"] = Call, ["version"] = Version, ["kernel"] = Kernel, ["default"] = Default,
        ["ms"] = JsonNumbers.Finite(Seconds * 1e3), ["default_ms"] = JsonNumbers.Finite(DefaultSeconds * 1e3),
    };
}

public sealed record TuneResult(DateTime Date, IReadOnlyList<TunedChoice> Choices, IReadOnlyList<LabRow> Lab)
{
    public TunedVersions ToVersions() => new(Date, Choices.ToDictionary(c => TunedVersions.Key(c.Family, c.Call), c => c.Version));
}

/// <summary>
/// <c>vae-gpu tune</c>, what cuDNN's benchmark mode does: every version of every versioned family at each call a
/// training step of the run makes, validated and timed by the kernel lab; the fastest that agrees with the
/// reference wins, except that the profile's default is kept unless another is faster by more than the noise.
/// </summary>
public static class Tuner
{
    /// <summary>A version must beat the default by this fraction to replace it: single timings here vary by a few percent.</summary>
    public const double Noise = 0.05;

    public static TuneResult Run(ComputeDevice device, VaeConfig config, int batch, int repeats, Action<string>? progress = null)
    {
        if (batch < 1) throw new VaeException($"«BatchSize» {batch} must be at least 1");
        if (repeats < 1) throw new VaeException($"«Repeats» {repeats} must be at least 1");
        // Measure against the defaults, not against an earlier tune.
        var previous = device.Versions.Tuned;
        device.Versions.Tuned = null;
        try
        {
            var cases = KernelCases.Step(device, config, batch);
            var lab = KernelLab.Run(device, cases, repeats, progress);
            var choices = cases.Select(c => Choose(device, c, lab)).ToList();
            return new TuneResult(DateTime.UtcNow, choices, lab);
        }
        finally { device.Versions.Tuned = previous; }
    }

    /// <summary>
    /// The rule: among one call's measured versions, the default stays unless another that agrees with the
    /// reference is faster by more than <see cref="Noise"/>; a default that disagrees gives way to the fastest
    /// that agrees; null when none agrees.
    /// </summary>
    internal static LabRow? Pick(IReadOnlyList<LabRow> measured, int defaultVersion)
    {
        var rows = measured.Where(r => r.Ran).ToList();
        var byDefault = rows.SingleOrDefault(r => r.Version == defaultVersion);
        var fastest = rows.Where(r => r.Passed).MinBy(r => r.MedianSeconds!.Value);
        return byDefault is null || !byDefault.Passed ? fastest
            : fastest is not null && fastest.MedianSeconds < byDefault.MedianSeconds * (1 - Noise) ? fastest : byDefault;
    }

    static TunedChoice Choose(ComputeDevice device, KernelCase c, IReadOnlyList<LabRow> lab)
    {
        var rows = lab.Where(r => r.Family == c.Family && r.Call == c.Call.ToString() && r.Ran).ToList();
        int fallback = c.Default(device.Versions);
        var byDefault = rows.SingleOrDefault(r => r.Version == fallback);
        var pick = Pick(rows, fallback);
        if (pick is null)
            throw new VaeException($"tune: no version of {c} agrees with the reference on {device.Name}; run vae-gpu check and report it");
        return new TunedChoice(c.Family, c.Call.ToString()!, pick.Version, pick.Kernel, fallback,
            pick.MedianSeconds!.Value, byDefault?.MedianSeconds ?? double.NaN);
    }

    /// <summary>
    /// Before a run: the tuned versions for it from the cache, else (on a kind of accelerator whose profile is an
    /// estimate, unless <paramref name="allowTuning"/> is false) a tune now, saved for next time; prints one line
    /// saying which (<see cref="KernelVersions.Source"/>).
    /// </summary>
    public static void Apply(ComputeDevice device, VaeConfig config, int batch, bool allowTuning, Action<string> say)
    {
        var tuned = TuningCache.Load(device, config, batch, say);
        if (tuned is null && allowTuning && !device.Profile.Measured && !EnvironmentSwitches.Flag(EnvironmentSwitches.NoTune))
        {
            say($"{device.Profile.Kind}: no measured profile for this accelerator; tuning the kernel versions once (kept in the tuning cache; «NoTune» skips)");
            var result = Run(device, config, batch, repeats: 5);
            var key = TuningCache.Key(device, config, batch);
            try { say($"tuned: {TuningCache.Save(key, result)}"); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { say($"could not save the tuning ({e.Message}); using it for this run only"); }
            tuned = result.ToVersions();
        }
        device.Versions.Tuned = tuned;
        say(device.Versions.Source);
    }
}
