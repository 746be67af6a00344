using System.Text.Json.Nodes;
using Vae.Gpu.Devices;
using Vae.Gpu.IO;

namespace Vae.Gpu.Diagnostics;

/// <summary>One version of one call of the training step: its error against the double-precision reference (the worst
/// element's share of the case's <see cref="Tolerance"/>: at most 1 agrees) and its median time (extra launches
/// included), or why it cannot run here.</summary>
public sealed record LabRow(string Family, int Version, string Kernel, string Description, string Call, bool IsDefault,
    double? Error, double? MedianSeconds, double Flops, string? NotRun)
{
    public bool Passed => NotRun is not null || Error <= 1;
    public bool Ran => NotRun is null;
    public double? GflopsPerSecond => MedianSeconds is { } t ? Flops / t / 1e9 : null;

    public JsonObject ToJson() => new()
    {
        ["family"] = Family, ["version"] = Version, ["kernel"] = Kernel, ["description"] = Description, ["shape"] = Call,
        ["default"] = IsDefault, ["error"] = JsonNumbers.Finite(Error), ["median_ms"] = JsonNumbers.Finite(MedianSeconds * 1e3),
        ["gflop_per_second"] = JsonNumbers.Finite(GflopsPerSecond), ["not_run"] = NotRun,
    };
}

/// <summary>
/// The kernel lab (<c>vae-gpu bench --versions</c>, and what <c>vae-gpu tune</c> decides from), in the spirit of
/// llm.c's dev/cuda: every version of every versioned family at each call the training step makes, validated on a
/// slice of the batch against the double-precision reference, then timed at the full call as training makes it,
/// the versions taking turns (<see cref="KernelHarness.TimeAlternated"/>).
/// The default column is what dispatch runs on this device (tuned or the profile's).
/// </summary>
public static class KernelLab
{
    /// <summary>Images of a step-sized call that validation runs (the reference is a plain double loop).</summary>
    public const int CheckBatch = 2;

    public static List<LabRow> Run(ComputeDevice device, IReadOnlyList<KernelCase> cases, int repeats, Action<string>? progress = null)
    {
        var rows = new List<LabRow>();
        var limits = device.Versions.Limits;
        foreach (var (c, index) in cases.Select((c, i) => (c, i)))
        {
            progress?.Invoke($"lab {index + 1}/{cases.Count}: {c}");
            int chosen = c.Chosen(device.Versions);
            var runnable = c.Versions.Where(v => c.WhyNot(v, limits) is null).ToList();
            var errors = runnable.Select(v => KernelHarness.Validate(device, c.WithBatch(CheckBatch), v, seed: 3).Error).ToList();
            var times = KernelHarness.TimeAlternated(device, c, runnable, repeats);
            foreach (int v in c.Versions)
            {
                string kernel = c.Kernel(v);
                int at = runnable.IndexOf(v);
                rows.Add(at < 0
                    ? new(c.Family, v, kernel, c.Describe(v), c.Call.ToString()!, false, null, null, c.Cost.Flops, c.WhyNot(v, limits))
                    : new(c.Family, v, kernel, c.Describe(v), c.Call.ToString()!, v == chosen, errors[at], times[at], c.Cost.Flops, null));
            }
        }
        return rows;
    }

    public static void Print(IReadOnlyList<LabRow> rows, Action<string> print)
    {
        foreach (var family in rows.GroupBy(r => r.Family))
        {
            print($"{"kernel lab: " + family.Key,-100} {"error/tol",10} {"ms",8} {"GFLOP/s",8}");
            foreach (var call in family.GroupBy(r => r.Call))
            {
                print($"  {call.Key}");
                foreach (var r in call)
                {
                    string name = $"    v{r.Version} {r.Kernel}{(r.IsDefault ? " (default)" : "")}: {r.Description}";
                    print(r.NotRun is not null
                        ? $"{name,-100} not run: {r.NotRun}"
                        : $"{name,-100} {r.Error,10:F3} {r.MedianSeconds * 1e3,8:F2} {r.GflopsPerSecond,8:F2}");
                }
            }
        }
    }
}
