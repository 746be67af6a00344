using System.Diagnostics;
using Vae.Gpu.Devices;

namespace Vae.Gpu.Diagnostics;

/// <summary>
/// Validates and times one version of one <see cref="KernelCase"/> on a device: the one harness of the tests,
/// <c>check</c>, the lab and <c>tune</c>. A call is timed as training makes it, extra launches included
/// (versions 1 and 2 of the convolution pad the input and flip the weight first).
/// </summary>
public static class KernelHarness
{
    /// <summary>The error (<see cref="Diagnostics.Tolerance"/>, at most 1 agrees) of the version's result against the reference, the result and the reference.</summary>
    public static (double Error, float[] Result, double[] Reference) Validate(ComputeDevice device, KernelCase c, int version, int seed)
    {
        using var forced = c.Force(device.Versions, version);
        using var call = c.Prepare(device, new Random(seed));
        call.Run();
        var result = call.Result();
        return (c.Tolerance.Error(result, call.Reference), result, call.Reference);
    }

    /// <summary>Median wall time of one call with the version (after one warm-up call that also compiles).</summary>
    public static double Time(ComputeDevice device, KernelCase c, int version, int repeats) =>
        TimeAlternated(device, c, [version], repeats)[0];

    /// <summary>
    /// Median wall time of one call with each of <paramref name="versions"/> on the same inputs, after one warm-up
    /// call each (which also compiles): the versions take turns, one call each per round, so a slow spell of a
    /// shared machine (seconds long) falls on all of them rather than on whichever ran then.
    /// </summary>
    public static double[] TimeAlternated(ComputeDevice device, KernelCase c, IReadOnlyList<int> versions, int repeats)
    {
        using var call = c.Prepare(device, new Random(4));
        void Run(int version)
        {
            using var forced = c.Force(device.Versions, version);
            call.Run();
            device.Synchronize();
        }
        foreach (int v in versions) Run(v);
        var times = versions.Select(_ => new List<double>()).ToArray();
        for (int r = 0; r < repeats; r++)
            for (int i = 0; i < versions.Count; i++)
            {
                long t0 = Stopwatch.GetTimestamp();
                Run(versions[i]);
                times[i].Add(Stopwatch.GetElapsedTime(t0).TotalSeconds);
            }
        return times.Select(t => { t.Sort(); return t[t.Count / 2]; }).ToArray();
    }
}
