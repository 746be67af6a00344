using System.Diagnostics;
using ILGPU;
using ILGPU.Runtime;
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

    /// <summary>Bytes a cold timing writes before each timed call: more than the last-level caches met so far (32 MiB
    /// an AMD CCD's L3, 50 MB an H100's L2), so the call finds its data in memory, as in the training step, where
    /// 73 MB pass between one use of a buffer and the next.</summary>
    public const int ColdBytes = 128 << 20;

    /// <summary>
    /// Median wall time of one call with each of <paramref name="versions"/> on the same inputs, after one warm-up
    /// call each (which also compiles): the versions take turns, one call each per round, so a slow spell of a
    /// shared machine (seconds long) falls on all of them rather than on whichever ran then. <paramref name="cold"/>:
    /// <see cref="ColdBytes"/> written before each timed call (untimed), so no operand starts in a cache.
    /// </summary>
    public static double[] TimeAlternated(ComputeDevice device, KernelCase c, IReadOnlyList<int> versions, int repeats, bool cold = false)
    {
        using var call = c.Prepare(device, new Random(4));
        void Run(int version)
        {
            using var forced = c.Force(device.Versions, version);
            call.Run();
            device.Synchronize();
        }
        foreach (int v in versions) Run(v);
        using var evict = cold ? device.Accelerator.Allocate1D<byte>(ColdBytes) : null;
        var times = versions.Select(_ => new List<double>()).ToArray();
        for (int r = 0; r < repeats; r++)
            for (int i = 0; i < versions.Count; i++)
            {
                if (evict is not null)
                {
                    evict.MemSetToZero();
                    device.Synchronize();
                }
                long t0 = Stopwatch.GetTimestamp();
                Run(versions[i]);
                times[i].Add(Stopwatch.GetElapsedTime(t0).TotalSeconds);
            }
        return times.Select(t => { t.Sort(); return t[t.Count / 2]; }).ToArray();
    }
}
