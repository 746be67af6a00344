using System.Diagnostics;
using System.Numerics;
using System.Text.Json.Nodes;
using Vae.Gpu.Devices;
using Vae.Gpu.IO;
using Vae.Gpu.Kernels;
using Vae.Gpu.Tensors;

namespace Vae.Gpu.Diagnostics;

/// <summary>One vector width the probe ran: its lanes, its bits and the GFLOP/s it reached.</summary>
public sealed record PeakWidth(int Lanes, int Bits, double Gflops);

/// <summary>The device's measured FMA peak: every width tried, the best of them the peak.</summary>
public sealed record PeakResult(IReadOnlyList<PeakWidth> Widths, string How)
{
    public PeakWidth Best => Widths.MaxBy(w => w.Gflops)!;
    public double Gflops => Best.Gflops;

    /// <summary>The peak each probe found, in order: this result's own figure until others are merged in.</summary>
    public IReadOnlyList<double> Probes
    {
        get => _probes.Count > 0 ? _probes : new[] { Gflops };
        init => _probes = value;
    }

    readonly IReadOnlyList<double> _probes = Array.Empty<double>();

    /// <summary>This result and <paramref name="later"/>'s probe as one: per width the higher figure, since a
    /// neighbour sharing the cores only ever slows the probe down.</summary>
    public PeakResult Merge(PeakResult later) => this with
    {
        Widths = Widths.Select(w => later.Widths.FirstOrDefault(l => l.Lanes == w.Lanes) is { } l && l.Gflops > w.Gflops ? l : w).ToList(),
        Probes = Probes.Concat(later.Probes).ToList(),
    };

    /// <summary>The memory bandwidth the triad reached (GB/s), and the FLOP per byte above which a kernel can be
    /// compute-bound rather than memory-bound (the roofline's ridge).</summary>
    public double BandwidthGBs { get; init; }
    public double RidgeFlopsPerByte => BandwidthGBs > 0 ? Gflops / BandwidthGBs : double.NaN;

    /// <summary>The roofline: what a kernel of <paramref name="cost"/>'s FLOP per byte can reach here.</summary>
    public double Attainable(KernelCost cost) =>
        BandwidthGBs > 0 && cost.Bytes > 0 ? Math.Min(Gflops, BandwidthGBs * cost.Flops / cost.Bytes) : Gflops;

    public string Describe() =>
        $"FMA peak: {Gflops:F1} GFLOP/s at {Best.Lanes} lanes ({string.Join("; ", Widths.Select(w => $"{w.Lanes} lanes = {w.Bits} bits: {w.Gflops:F1}"))}; what the device's compiler makes of them), {How}" +
        (Probes.Count > 1 ? $"; the best of {Probes.Count} probes run apart ({string.Join(", ", Probes.Select(p => p.ToString("F1")))})" : "") +
        (BandwidthGBs > 0 ? $"; memory: {BandwidthGBs:F1} GB/s (triad over 3 x {PeakProbe.TriadBytes / (1 << 20)} MiB), so a kernel needs {RidgeFlopsPerByte:F1} FLOP per byte to reach the peak" : "");

    public JsonObject ToJson() => new()
    {
        ["peak_gflops"] = JsonNumbers.Finite(Gflops), ["peak_width_bits"] = Best.Bits, ["how"] = How,
        ["bandwidth_gb_per_second"] = JsonNumbers.Finite(BandwidthGBs), ["ridge_flop_per_byte"] = JsonNumbers.Finite(RidgeFlopsPerByte),
        ["widths"] = new JsonArray(Widths.Select(w => (JsonNode)new JsonObject { ["bits"] = w.Bits, ["gflops"] = JsonNumbers.Finite(w.Gflops) }).ToArray()),
        ["probes_gflops"] = new JsonArray(Probes.Select(p => (JsonNode)JsonNumbers.Finite(p)!).ToArray()),
    };
}

/// <summary>
/// Measures a device's fused multiply-add peak with independent FMA chains on every core or multiprocessor
/// (<see cref="PeakKernels"/>): on an OpenCL CPU at 8 and 16 lanes (256 and 512 bits), on a GPU one lane per
/// work-item (its SIMT lanes are the vector); on ILGPU's CPU accelerator, whose kernels are .NET code, .NET's
/// widest <see cref="Vector{T}"/> on every core. The higher figure is the peak a kernel's GFLOP/s is a share of.
/// </summary>
public static class PeakProbe
{
    /// <summary>Each timed launch lasts about this long; three of them, the fastest kept (on a shared host a
    /// neighbour's work on the same cores only ever slows a launch down).</summary>
    const double LaunchSeconds = 0.15;

    /// <summary>Bytes of each of the triad's three arrays: far past any cache.</summary>
    public const long TriadBytes = 64L << 20;

    public static PeakResult Measure(ComputeDevice device) => Fma(device) with { BandwidthGBs = Bandwidth(device) };

    /// <summary>STREAM's triad over three arrays of <see cref="TriadBytes"/>: the median of three runs, in GB/s.</summary>
    public static double Bandwidth(ComputeDevice device)
    {
        int n = (int)(TriadBytes / sizeof(float));
        using var a = Tensor.Zeros(device, n);
        using var b = Tensor.Zeros(device, n);
        using var c = Tensor.Zeros(device, n);
        device.Ops.Triad(0.5f, a.View, b.View, c.View);   // compiles, and touches every page
        device.Synchronize();
        var times = Enumerable.Range(0, 3).Select(_ =>
        {
            var watch = Stopwatch.StartNew();
            device.Ops.Triad(0.5f, a.View, b.View, c.View);
            device.Synchronize();
            return watch.Elapsed.TotalSeconds;
        }).Order().ToList();
        return 12.0 * n / times[1] / 1e9;
    }

    /// <summary>The FMA peak alone (no triad), e.g. a second probe to merge (<see cref="PeakResult.Merge"/>).</summary>
    public static PeakResult Fma(ComputeDevice device)
    {
        if (device.Type == ILGPU.Runtime.AcceleratorType.CPU) return HostVectors();
        bool gpu = device.Ops.Limits.IsGpu;
        int items = device.Profile.TargetThreads;
        using var output = Tensor.Zeros(device, items);
        var widths = (gpu ? new[] { 1 } : new[] { 8, 16 }).Select(width =>
        {
            double seconds(int iterations)
            {
                var watch = Stopwatch.StartNew();
                device.Ops.FmaChains(width, items, iterations, output.View);
                device.Synchronize();
                return watch.Elapsed.TotalSeconds;
            }
            seconds(16);   // compiles the kernel
            int iterations = 64;
            for (double t = seconds(iterations); t < LaunchSeconds / 4 && iterations < 1 << 26; t = seconds(iterations)) iterations *= 4;
            iterations = (int)Math.Clamp(iterations * (LaunchSeconds / seconds(iterations)), 16, int.MaxValue / 2);
            double fastest = Enumerable.Range(0, 3).Min(_ => seconds(iterations));
            return new PeakWidth(width, gpu ? 32 : width * 32, PeakKernels.Flops(items, iterations, width) / fastest / 1e9);
        }).ToList();
        string how = gpu
            ? $"{PeakKernels.Chains} FMA chains per work-item, {items} work-items"
            : $"{PeakKernels.Chains} FMA chains of 8 and 16 lanes per work-item, {items} work-items over every core";
        return new PeakResult(widths, how);
    }

    /// <summary>.NET's <see cref="Vector{T}"/> FMAs on every core: what code on ILGPU's CPU accelerator could reach.</summary>
    static PeakResult HostVectors()
    {
        int cores = Environment.ProcessorCount, lanes = Vector<float>.Count;
        double Run(long iterations)
        {
            var sums = new float[cores];
            var watch = Stopwatch.StartNew();
            Parallel.For(0, cores, core =>
            {
                var s = new Vector<float>(PeakKernels.Scale);
                var a = new Vector<float>(PeakKernels.Addend);
                Vector<float> c0 = new(0.5f + core), c1 = c0 + a, c2 = c1 + a, c3 = c2 + a, c4 = c3 + a, c5 = c4 + a;
                Vector<float> c6 = c5 + a, c7 = c6 + a, c8 = c7 + a, c9 = c8 + a, c10 = c9 + a, c11 = c10 + a;
                for (long i = 0; i < iterations; i++)
                {
                    c0 = Vector.FusedMultiplyAdd(c0, s, a); c1 = Vector.FusedMultiplyAdd(c1, s, a); c2 = Vector.FusedMultiplyAdd(c2, s, a);
                    c3 = Vector.FusedMultiplyAdd(c3, s, a); c4 = Vector.FusedMultiplyAdd(c4, s, a); c5 = Vector.FusedMultiplyAdd(c5, s, a);
                    c6 = Vector.FusedMultiplyAdd(c6, s, a); c7 = Vector.FusedMultiplyAdd(c7, s, a); c8 = Vector.FusedMultiplyAdd(c8, s, a);
                    c9 = Vector.FusedMultiplyAdd(c9, s, a); c10 = Vector.FusedMultiplyAdd(c10, s, a); c11 = Vector.FusedMultiplyAdd(c11, s, a);
                }
                sums[core] = Vector.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
            });
            return watch.Elapsed.TotalSeconds;   // each core's result is stored, so its loop stays
        }
        long n = 1 << 16;
        for (double t = Run(n); t < LaunchSeconds / 4; t = Run(n)) n *= 4;
        n = (long)(n * (LaunchSeconds / Run(n)));
        double fastest = Enumerable.Range(0, 3).Min(_ => Run(n));
        double gflops = 2.0 * cores * n * PeakKernels.Chains * lanes / fastest / 1e9;
        return new PeakResult(new[] { new PeakWidth(lanes, lanes * 32, gflops) },
            $".NET Vector<float> FMAs ({lanes} lanes), {PeakKernels.Chains} chains on each of {cores} cores (ILGPU's CPU accelerator runs kernels as .NET code)");
    }
}
