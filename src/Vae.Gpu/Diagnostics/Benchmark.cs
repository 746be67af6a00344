using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Vae.Gpu.Devices;
using Vae.Gpu.IO;
using Vae.Gpu.Kernels;
using Vae.Gpu.Model;
using Vae.Gpu.Optim;
using Vae.Gpu.Tensors;

namespace Vae.Gpu.Diagnostics;

/// <summary>One kernel (at one shape) in a training step: launches per step and the median time per step.</summary>
public sealed record KernelTiming(string Name, int Calls, double MedianSeconds, KernelCost Cost)
{
    public double GflopsPerSecond => Cost.Flops / MedianSeconds / 1e9;
    public double GigabytesPerSecond => Cost.Bytes / MedianSeconds / 1e9;
}

/// <summary>The version dispatch ran for one versioned call of the step.</summary>
public sealed record ChosenVersion(string Family, string Call, int Version, string Kernel);

public sealed record BenchResult(
    string Accelerator, int Batch, int Repeats, IReadOnlyList<KernelTiming> Kernels, IReadOnlyList<LabRow> Lab,
    double ImagesPerSecond, double StepSecondsMedian, long PeakBytes, IReadOnlyList<CheckResult> Checks,
    int LaunchesPerStep, DeviceProfile Profile, TunedVersions? Tuned, IReadOnlyList<ChosenVersion> Chosen, MachineInfo Machine)
{
    /// <summary>The model whose training step was timed.</summary>
    public VaeConfig Model { get; init; } = new();

    /// <summary>The device's measured FMA peak, which the kernels' and the step's GFLOP/s are shares of.</summary>
    public PeakResult? Peak { get; init; }

    /// <summary>FLOPs of one training step (every launch's count).</summary>
    public double StepFlops { get; init; }

    public double StepGflops => StepFlops / StepSecondsMedian / 1e9;

    /// <summary><paramref name="gflops"/> as a share of the peak (null when none was measured).</summary>
    public double? ShareOfPeak(double gflops) => Peak is { Gflops: > 0 } p ? gflops / p.Gflops : null;

    /// <summary>Every kernel the check ran, and every version the lab ran, agrees with its reference.</summary>
    public bool AllAgree => Checks.All(c => c.Passed) && Lab.All(r => r.Passed);

    public string ToJson()
    {
        JsonObject K(KernelTiming k) => new()
        {
            ["name"] = k.Name, ["calls_per_step"] = k.Calls, ["median_ms"] = JsonNumbers.Finite(k.MedianSeconds * 1e3),
            ["gflop_per_second"] = JsonNumbers.Finite(k.GflopsPerSecond), ["gb_per_second"] = JsonNumbers.Finite(k.GigabytesPerSecond),
            ["share_of_peak"] = ShareOfPeak(k.GflopsPerSecond) is { } share ? JsonNumbers.Finite(share) : null,
            ["roofline_gflop_per_second"] = Peak is null ? null : JsonNumbers.Finite(Peak.Attainable(k.Cost)),
        };
        var doc = new JsonObject
        {
            ["accelerator"] = Accelerator,
            ["peak_gflops"] = Peak is null ? null : JsonNumbers.Finite(Peak.Gflops), ["peak_width_bits"] = Peak?.Best.Bits,
            ["peak"] = Peak?.ToJson(),
            ["machine"] = Machine.ToJson(),
            ["profile"] = new JsonObject
            {
                ["kind"] = Profile.Kind, ["source"] = Tuned is null ? "defaults" : "tuned", ["tuned_on"] = Tuned?.Date.ToString("yyyy-MM-dd"),
                ["elementwise_runs"] = Profile.ElementwiseRuns, ["chunk_bias_sums"] = Profile.ChunkBiasSums, ["loss_read_interval"] = Profile.LossReadInterval,
                ["pocl_512_bit"] = Profile.IsOpenClCpu ? PoclWideVectors.Applied : null,
                ["chosen"] = new JsonArray(Chosen.Select(c => (JsonNode)new JsonObject
                {
                    ["family"] = c.Family, ["call"] = c.Call, ["version"] = c.Version, ["kernel"] = c.Kernel,
                }).ToArray()),
            },
            ["gemm_default"] = (int)Profile.Gemm, ["conv_default"] = (int)Profile.Conv,
            ["weight_grad_default"] = (int)Profile.WeightGrad, ["group_size"] = Profile.GroupSize, ["batch"] = Batch, ["latent"] = Model.Latent, ["model"] = Model.Describe(), ["repeats"] = Repeats,
            ["kernels"] = new JsonArray(Kernels.Select(k => (JsonNode)K(k)).ToArray()),
            ["versions"] = new JsonArray(Lab.Select(r => (JsonNode)r.ToJson()).ToArray()),
            ["training"] = new JsonObject
            {
                ["images_per_second"] = JsonNumbers.Finite(ImagesPerSecond), ["launches_per_step"] = LaunchesPerStep,
                ["step_ms_median"] = JsonNumbers.Finite(StepSecondsMedian * 1e3), ["peak_memory_bytes"] = PeakBytes,
                ["gflop_per_second"] = JsonNumbers.Finite(StepGflops),
                ["share_of_peak"] = ShareOfPeak(StepGflops) is { } stepShare ? JsonNumbers.Finite(stepShare) : null,
            },
            ["check"] = new JsonObject
            {
                ["ran"] = Checks.Count > 0, ["all_agree"] = AllAgree, ["worst_error"] = Checks.Count == 0 ? null : JsonNumbers.Finite(Checks.Max(c => c.Error)),
            },
        };
        return doc.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }
}

/// <summary>
/// <c>vae-gpu bench</c>: checks every kernel against the reference, then profiles training steps of the
/// default model (each launch timed alone), with <c>--versions</c> runs the kernel lab (<see cref="KernelLab"/>),
/// and times whole steps without the profiler for images/s. Medians over <c>repeats</c> runs after a warm-up.
/// </summary>
public static class Benchmark
{
    /// <param name="check">run every kernel against the reference first: always without <paramref name="versions"/>;
    /// with it the lab validates every version at every call of the step, so the whole check runs only when asked.</param>
    public static BenchResult Run(ComputeDevice device, int batch, int repeats, Action<string>? print, bool versions = false, bool? check = null, VaeConfig? model = null)
    {
        var config = (model ?? new VaeConfig()).Validate();
        if (batch < 1) throw new VaeException($"«BatchSize» {batch} must be at least 1");
        if (repeats < 1) throw new VaeException($"«Repeats» {repeats} must be at least 1");
        print?.Invoke($"accelerator: {device.Name}; batch {batch}, {(config == new VaeConfig() ? "the default model" : config.Describe())}; medians of {repeats} runs");
        var machine = MachineInfo.Of(device);
        print?.Invoke(machine.Describe());
        var pr = device.Profile;
        print?.Invoke($"profile: {pr.Kind}; defaults conv v{(int)pr.Conv} {pr.Conv}, weight-grad v{(int)pr.WeightGrad} {pr.WeightGrad}, gemm v{(int)pr.Gemm} {pr.Gemm} " +
            $"({EnvironmentSwitches.Conv}, {EnvironmentSwitches.WeightGrad}, {EnvironmentSwitches.Gemm} override); groups of {(pr.GroupSize > 0 ? pr.GroupSize.ToString() : "ILGPU's choice")}; up to {pr.MaxLaunch} threads a launch; " +
            $"{pr.ElementwisePolicy}; the loss read every {pr.LossReadInterval} batches in training" +
            (pr.IsOpenClCpu ? (PoclWideVectors.Applied ? $"; PoCL builds 512-bit vectors ({EnvironmentSwitches.PoclWide}=0 for its 256-bit preference)" : "; PoCL builds with its own vector preference") : ""));
        print?.Invoke(device.Versions.Source);
        bool runCheck = check ?? !versions;
        var checks = runCheck ? KernelCheck.Run(device, seed: 1).ToList() : new List<CheckResult>();
        if (!runCheck) print?.Invoke("reference check: left out (the kernel lab validates every version at every call; «Check» runs the whole check too)");
        else
        {
            print?.Invoke(checks.All(c => c.Passed)
                ? $"reference check: all {checks.Count} kernels agree (worst error {checks.Max(c => c.Error):F3} of its tolerance)"
                : "reference check: DISAGREEMENT in " + string.Join(", ", checks.Where(c => !c.Passed).Select(c => c.Kernel)));
            foreach (var line in KernelCheck.NotRun(device)) print?.Invoke(line);
        }

        // The peak is probed again after the step's timing and the higher kept: on a shared host neighbours
        // slow the probe for minutes at a time (docs/performance.md), so one probe can understate it.
        var fma = PeakProbe.Measure(device);

        device.ResetPeak();
        using var step = new TrainingStep(device, config, batch);
        void Step() => step.Run();
        WarmUp(Step, device.Synchronize);

        // Whole steps, launches queued freely.
        var stepTimes = new List<double>();
        for (int r = 0; r < repeats; r++)
        {
            long t0 = Stopwatch.GetTimestamp();
            Step();
            device.Synchronize();
            stepTimes.Add(Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
        double stepMedian = Median(stepTimes);
        long peak = device.PeakBytes;

        // Per-kernel profile: each launch waits for the previous one and is timed alone.
        var runs = new List<List<KernelLaunch>>();
        device.Ops.Profiler = l => runs[^1].Add(l);
        try
        {
            for (int r = 0; r < repeats; r++) { runs.Add(new()); Step(); }
        }
        finally { device.Ops.Profiler = null; }
        var kernels = Aggregate(runs);
        double stepFlops = runs[0].Sum(l => l.Cost.Flops);
        fma = fma.Merge(PeakProbe.Fma(device));
        print?.Invoke(fma.Describe());

        var stepCases = KernelCases.From(runs[0]);
        var chosen = stepCases.Select(c => { int v = c.Chosen(device.Versions); return new ChosenVersion(c.Family, c.Call.ToString()!, v, c.Kernel(v)); }).ToList();
        var lab = versions ? KernelLab.Run(device, stepCases, repeats) : new List<LabRow>();

        if (print is not null)
        {
            print("");
            print($"{"kernel (call)",-64} {"calls",5} {"ms/step",9} {"GFLOP/s",8} {"of peak",7} {"of roof",7} {"GB/s",7} {"share",6}");
            double total = kernels.Sum(k => k.MedianSeconds);
            foreach (var k in kernels.OrderByDescending(k => k.MedianSeconds))
                print($"{k.Name,-64} {k.Calls,5} {k.MedianSeconds * 1e3,9:F2} {k.GflopsPerSecond,8:F2} {k.GflopsPerSecond / fma.Gflops,7:P0} {k.GflopsPerSecond / fma.Attainable(k.Cost),7:P0} {k.GigabytesPerSecond,7:F2} {k.MedianSeconds / total,6:P0}");
            print($"{"sum of kernels (each launch timed alone)",-64} {"",5} {total * 1e3,9:F1}");
            if (versions) { print(""); KernelLab.Print(lab, print); }
            print("");
            double stepGflops = stepFlops / stepMedian / 1e9;
            print($"training step: median {stepMedian * 1e3:F0} ms = {batch / stepMedian:F1} images/s = {stepGflops:F1} GFLOP/s, {stepGflops / fma.Gflops:P0} of the FMA peak; {runs[0].Count} launches; peak device memory {peak / (1024.0 * 1024):F1} MiB");
            // The same verdict the peers print (examples/pytorch/bench.py, examples/torchsharp), for scripts/bench-peers.
            var wrong = checks.Where(c => !c.Passed).Select(c => c.Kernel).Concat(lab.Where(r => !r.Passed).Select(r => $"{r.Family} v{r.Version} at {r.Call}")).ToList();
            string what = (runCheck ? $"all {checks.Count} kernels" : "") + (runCheck && versions ? " and " : "") + (versions ? $"all {lab.Count(r => r.Ran)} versions at the step's calls" : "");
            print(wrong.Count == 0
                ? $"results: right ({what} agree with their float64 reference)"
                : $"results: WRONG on this device ({string.Join(", ", wrong)} disagree with their float64 reference)");
        }
        return new BenchResult(device.Name, batch, repeats, kernels, lab, batch / stepMedian, stepMedian, peak, checks, runs[0].Count, device.Profile,
            device.Versions.Tuned, chosen, machine) { Model = config, Peak = fma, StepFlops = stepFlops };
    }

    /// <summary>Steps run before any is timed: at least this many, and for at least <see cref="WarmUpSeconds"/>.</summary>
    public const int WarmUpSteps = 3;

    /// <summary>During about the first second of steps .NET's tiered JIT recompiles the host code on a background
    /// thread; on 2 cores that thread slowed several steps by up to 2x, which a timed window of 5-10 steps
    /// would report as the training speed.</summary>
    public const double WarmUpSeconds = 2.0;

    /// <summary>Runs <paramref name="step"/> (each followed by <paramref name="synchronize"/>) for at least
    /// <see cref="WarmUpSteps"/> steps and <see cref="WarmUpSeconds"/> seconds.</summary>
    public static void WarmUp(Action step, Action synchronize)
    {
        long start = Stopwatch.GetTimestamp();
        for (int n = 0; n < WarmUpSteps || Stopwatch.GetElapsedTime(start).TotalSeconds < WarmUpSeconds; n++)
        {
            step();
            synchronize();
        }
    }

    /// <summary>Per kernel label: launches per step and the median over runs of its summed time in a step.</summary>
    static List<KernelTiming> Aggregate(List<List<KernelLaunch>> runs) =>
        runs[0].GroupBy(l => l.Label).Select(g =>
        {
            var perRun = runs.Select(run => run.Where(l => l.Label == g.Key).Sum(l => l.Seconds)).ToList();
            var cost = new KernelCost(g.Sum(l => l.Cost.Flops), g.Sum(l => l.Cost.Bytes));
            return new KernelTiming(g.Key, g.Count(), Median(perRun), cost);
        }).ToList();

    static double Median(List<double> values)
    {
        var sorted = values.OrderBy(v => v).ToList();
        int n = sorted.Count;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
}
