using System.Text.Json.Nodes;
using Vae.Gpu.Devices;
using Vae.Gpu.IO;
using Vae.Gpu.Kernels;
using Vae.Gpu.Model;

namespace Vae.Gpu.Diagnostics;

/// <summary>One version of one call of the training step: its error against the double-precision reference (the worst
/// element's share of the case's <see cref="Tolerance"/>: at most 1 agrees) and its median time (extra launches
/// included), or why it cannot run here.</summary>
public sealed record LabRow(string Family, int Version, string Kernel, string Description, string Call, bool IsDefault,
    double? Error, double? MedianSeconds, KernelCost Cost, string? NotRun)
{
    public bool Passed => NotRun is not null || Error <= 1;
    public bool Ran => NotRun is null;
    public double? GflopsPerSecond => MedianSeconds is { } t ? Cost.Flops / t / 1e9 : null;
    public double? GigabytesPerSecond => MedianSeconds is { } t ? Cost.Bytes / t / 1e9 : null;

    public JsonObject ToJson() => new()
    {
        ["family"] = Family, ["version"] = Version, ["kernel"] = Kernel, ["description"] = Description, ["shape"] = Call,
        ["default"] = IsDefault, ["error"] = JsonNumbers.Finite(Error), ["median_ms"] = JsonNumbers.Finite(MedianSeconds * 1e3),
        ["gflop_per_second"] = JsonNumbers.Finite(GflopsPerSecond), ["gb_per_second"] = JsonNumbers.Finite(GigabytesPerSecond), ["not_run"] = NotRun,
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

    /// <summary>Validates, then times, every version of each case (or only <paramref name="only"/>'s versions); with
    /// <paramref name="cold"/>, each timed call after the caches are flushed (<see cref="KernelHarness.ColdBytes"/>).</summary>
    public static List<LabRow> Run(ComputeDevice device, IReadOnlyList<KernelCase> cases, int repeats, Action<string>? progress = null,
        IReadOnlyCollection<int>? only = null, bool cold = false)
    {
        var rows = new List<LabRow>();
        var limits = device.Versions.Limits;
        foreach (var (c, index) in cases.Select((c, i) => (c, i)))
        {
            progress?.Invoke($"lab {index + 1}/{cases.Count}: {c}");
            int chosen = c.Chosen(device.Versions);
            var versions = c.Versions.Where(v => only is null || only.Contains(v)).ToList();
            var runnable = versions.Where(v => c.WhyNot(v, limits) is null).ToList();
            var errors = runnable.Select(v => KernelHarness.Validate(device, c.WithBatch(CheckBatch), v, seed: 3).Error).ToList();
            var times = KernelHarness.TimeAlternated(device, c, runnable, repeats, cold);
            foreach (int v in versions)
            {
                string kernel = c.Kernel(v);
                int at = runnable.IndexOf(v);
                rows.Add(at < 0
                    ? new(c.Family, v, kernel, c.Describe(v), c.Call.ToString()!, false, null, null, c.Cost, c.WhyNot(v, limits))
                    : new(c.Family, v, kernel, c.Describe(v), c.Call.ToString()!, v == chosen, errors[at], times[at], c.Cost, null));
            }
        }
        return rows;
    }

    /// <summary>The versioned families, by the names <c>vae-gpu lab --family</c> takes.</summary>
    public static IReadOnlyList<string> Families { get; } = new[] { ConvFamily.Name, WeightGradFamily.Name, GemmFamily.Name };

    /// <summary>
    /// The calls of one family in a training step of <paramref name="config"/> at <paramref name="batch"/>, numbered
    /// from 1 in the order the step makes them; <paramref name="call"/> picks one of them.
    /// </summary>
    public static IReadOnlyList<KernelCase> Calls(ComputeDevice device, string family, VaeConfig config, int batch, int? call = null)
    {
        if (!Families.Contains(family)) throw new VaeException($"family '{family}' is unknown; the families are {string.Join(", ", Families)}");
        var calls = KernelCases.Step(device, config, batch).Where(c => c.Family == family).ToList();
        if (call is { } n && (n < 1 || n > calls.Count))
            throw new VaeException($"call {n} is out of range: a training step makes {calls.Count} {family} calls, numbered 1 to {calls.Count}");
        return call is { } pick ? new[] { calls[pick - 1] } : calls;
    }

    /// <summary>
    /// One call of <paramref name="family"/> at a shape of the user's: for conv and weight-grad
    /// <c>batch,in,out,height,width,kernel</c> (a valid convolution with bias and ReLU, or its weight gradient),
    /// for gemm <c>M,N,K</c> (a linear layer's forward product with bias: M rows of K inputs, N outputs).
    /// </summary>
    public static KernelCase AtShape(string family, string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        int want = family == GemmFamily.Name ? 3 : 6;
        var n = parts.Select(t => int.TryParse(t, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int v) && v >= 1 ? v : 0).ToArray();
        if (parts.Length != want || n.Any(v => v == 0))
            throw new VaeException($"«Shape» '{text}' is not {(want == 3 ? "M,N,K" : "batch,in,out,height,width,kernel")} as whole numbers of at least 1 for {family}");
        if (family == GemmFamily.Name)
            return new GemmCase(new GemmCall(new GemmShape(n[0], n[1], n[2], n[2], 1, 1, n[2]), EpilogueFlags.Bias));
        var shape = new ConvShape(n[0], n[1], n[2], n[3], n[4], n[5]);
        if (shape.OutHeight < 1 || shape.OutWidth < 1)
            throw new VaeException($"«Shape» '{text}': a {n[5]}x{n[5]} kernel leaves nothing of a {n[3]}x{n[4]} input");
        return family == ConvFamily.Name
            ? new ConvCase(new ConvCall(shape, 0, false, EpilogueFlags.Bias | EpilogueFlags.Relu))
            : new WeightGradCase(new WeightGradCall(shape, n[2], BiasFromInput: false));
    }

    /// <summary>A version of <paramref name="family"/> written as <c>v6</c>, <c>6</c> or its kernel's name (<c>LanePairs</c>).</summary>
    public static int ParseVersion(string family, string text)
    {
        var rows = KernelFamilies.Rows.Where(r => r.Family == family).ToList();
        string t = text.Trim();
        var row = rows.FirstOrDefault(r => string.Equals(r.Name, t, StringComparison.OrdinalIgnoreCase)
            || (int.TryParse(t.StartsWith('v') || t.StartsWith('V') ? t[1..] : t, out int n) && r.Number == n));
        return row?.Number ?? throw new VaeException(
            $"{family} has no version '{text}'; its versions are {string.Join(", ", rows.Select(r => $"v{r.Number} {r.Name}"))}");
    }

    public static void Print(IReadOnlyList<LabRow> rows, Action<string> print)
    {
        foreach (var family in rows.GroupBy(r => r.Family))
        {
            print($"{"kernel lab: " + family.Key,-100} {"error/tol",10} {"ms",8} {"GFLOP/s",8} {"GB/s",7}");
            foreach (var call in family.GroupBy(r => r.Call))
            {
                print($"  {call.Key}");
                foreach (var r in call)
                {
                    string name = $"    v{r.Version} {r.Kernel}{(r.IsDefault ? " (default)" : "")}: {r.Description}";
                    print(r.NotRun is not null
                        ? $"{name,-100} not run: {r.NotRun}"
                        : $"{name,-100} {r.Error,10:F3} {r.MedianSeconds * 1e3,8:F2} {r.GflopsPerSecond,8:F2} {r.GigabytesPerSecond,7:F2}");
                }
            }
        }
    }
}
