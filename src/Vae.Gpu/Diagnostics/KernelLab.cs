using Vae.Gpu.Kernels.Reference;
using ILGPU;
using System.Text.Json.Nodes;
using Vae.Gpu.Devices;
using Vae.Gpu.Kernels;
using Vae.Gpu.Tensors;

namespace Vae.Gpu.Diagnostics;

/// <summary>One version of one hot kernel at one shape of the training step: its error against a
/// double-precision reference and its median time, or why it did not run here.</summary>
public sealed record LabRow(string Family, int Version, string Description, string Shape, bool IsDefault,
    double? RelativeError, double? MedianSeconds, double Flops, string? NotRun)
{
    public bool Passed => NotRun is not null || RelativeError <= KernelCheck.Tolerance;

    public JsonObject ToJson() => new()
    {
        ["family"] = Family, ["version"] = Version, ["description"] = Description, ["shape"] = Shape,
        ["default"] = IsDefault, ["relative_error"] = RelativeError, ["median_ms"] = MedianSeconds * 1e3,
        ["gflop_per_second"] = MedianSeconds is { } t ? Flops / t / 1e9 : null, ["not_run"] = NotRun,
    };
}

/// <summary>
/// The kernel lab (<c>vae-gpu bench --versions</c>), in the spirit of llm.c's dev/cuda: every numbered version
/// of the convolution, the weight gradient and the GEMM, at each shape the training step runs them, is first
/// validated against an independent double-precision sum (convolutions on 2 images of the shape, GEMMs whole),
/// then timed at the full shape (each launch alone, partial sums included). The default column is what the
/// dispatcher runs on this accelerator at that shape.
/// </summary>
public static class KernelLab
{
    const int CheckBatch = 2;

    public static List<LabRow> Run(ComputeDevice device, IReadOnlyList<KernelLaunch> step, int repeats)
    {
        var rows = new List<LabRow>();
        var ops = device.Ops;
        var convShapes = step.Where(l => l.Name.StartsWith("conv ")).Select(l => l.Shape).OfType<ConvShape>().Distinct().ToList();
        var gradShapes = step.Where(l => l.Name.StartsWith("weightGrad ")).Select(l => l.Shape).OfType<ConvShape>().Distinct().ToList();
        var gemmShapes = step.Select(l => l.Shape).OfType<GemmShape>().Distinct().ToList();
        var rng = new Random(3);
        try
        {
            foreach (var s in convShapes)
                foreach (var v in Enum.GetValues<ConvVersion>())
                {
                    string shape = s.ToString();
                    ops.ConvOverride = null;
                    bool isDefault = ops.ConvVersionFor(s) == v;
                    if (!ops.ConvFits(s, v)) { rows.Add(new("conv", (int)v, v.Describe(), shape, false, null, null, 0, NotFits(device, v))); continue; }
                    ops.ConvOverride = v;
                    var small = Resize(s, CheckBatch);
                    double error = CheckConv(device, small, rng);
                    double time = Time(device, repeats, s.InputLength, s.WeightLength, s.OutputLength,
                        (x, w, y) => ops.ValidConv(s, x, w, null, null, EpilogueFlags.None, y));
                    rows.Add(new("conv", (int)v, v.Describe(), shape, isDefault, error, time, KernelCost.ValidConv(s).Flops, null));
                }
            ops.ConvOverride = null;
            foreach (var s in gradShapes)
                foreach (var v in Enum.GetValues<WeightGradVersion>())
                {
                    ops.WeightGradOverride = null;
                    bool isDefault = ops.WeightGradVersionFor(s) == v;
                    if (v == WeightGradVersion.Rows && !ConvKernels.WeightGradRowsFits(s)) { rows.Add(new("weight-grad", (int)v, v.Describe(), s.ToString(), false, null, null, 0, $"rows wider than {ConvKernels.RowLanes} columns")); continue; }
                    ops.WeightGradOverride = v;
                    double error = CheckWeightGrad(device, Resize(s, CheckBatch), rng);
                    double time = Time(device, repeats, s.OutputLength, s.InputLength, s.WeightLength,
                        (g, x, dw) => ops.ConvWeightGrad(s, g, x, dw));
                    rows.Add(new("weight-grad", (int)v, v.Describe(), s.ToString(), isDefault, error, time, KernelCost.WeightGrad(s, 1).Flops, null));
                }
            ops.WeightGradOverride = null;
            foreach (var s in gemmShapes)
                foreach (var v in Enum.GetValues<GemmVersion>())
                {
                    ops.GemmOverride = null;
                    bool isDefault = ops.GemmVersionFor(s) == v;
                    // The step runs some shapes twice with different strides (a transposed operand).
                    string shape = $"{s} strides {s.StrideAm},{s.StrideAk},{s.StrideBk},{s.StrideBn}";
                    if (!KernelCheck.Supports(device, v)) { rows.Add(new("gemm", (int)v, v.Describe(), shape, false, null, null, 0, NotFits(device, v))); continue; }
                    ops.GemmOverride = v;
                    int aLength = (s.M - 1) * s.StrideAm + (s.K - 1) * s.StrideAk + 1, bLength = (s.K - 1) * s.StrideBk + (s.N - 1) * s.StrideBn + 1;
                    var a = Uniform(rng, aLength);
                    var b = Uniform(rng, bLength);
                    double error = CheckGemm(device, s, a, b);
                    double time = Time(device, repeats, aLength, bLength, s.M * s.N,
                        (av, bv, cv) => ops.Gemm(s, av, bv, null, null, EpilogueFlags.None, cv));
                    rows.Add(new("gemm", (int)v, v.Describe(), shape, isDefault, error, time, KernelCost.Gemm(s, 1).Flops, null));
                }
        }
        finally
        {
            ops.ConvOverride = null; ops.WeightGradOverride = null; ops.GemmOverride = null; ops.Profiler = null;
        }
        return rows;
    }

    public static void Print(IReadOnlyList<LabRow> rows, Action<string> print)
    {
        print($"{"kernel lab: version",-92} {"shape",-40} {"rel. error",10} {"ms",8} {"GFLOP/s",8}");
        foreach (var r in rows)
        {
            string name = $"{r.Family} v{r.Version}{(r.IsDefault ? " (default)" : "")}: {r.Description}";
            print(r.NotRun is not null
                ? $"{name,-92} {r.Shape,-40} not run: {r.NotRun}"
                : $"{name,-92} {r.Shape,-40} {r.RelativeError,10:E1} {r.MedianSeconds * 1e3,8:F2} {r.Flops / r.MedianSeconds / 1e9,8:F2}");
        }
    }

    static string NotFits(ComputeDevice device, ConvVersion v) => v == ConvVersion.Staged
        ? $"needs groups of Wo x {ConvKernels.StagedRows} work-items (at most {ConvKernels.StagedMaxTaps} taps); this accelerator has {device.Accelerator.MaxNumThreadsPerGroup}"
        : $"rows wider than {ConvKernels.RowLanes} columns";

    static string NotFits(ComputeDevice device, GemmVersion v) =>
        $"needs {GemmKernels.SharedTile * GemmKernels.SharedTile}-thread groups; this accelerator has {device.Accelerator.MaxNumThreadsPerGroup}";

    static ConvShape Resize(ConvShape s, int batch) =>
        new(Math.Min(batch, s.Batch), s.InChannels, s.OutChannels, s.InHeight, s.InWidth, s.Kernel);

    static double[] Double(float[] a) => Array.ConvertAll(a, v => (double)v);

    static float[] Uniform(Random rng, int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();

    /// <summary>Median over <paramref name="repeats"/> calls of the summed launch times of one call (after a warm-up).</summary>
    static double Time(ComputeDevice device, int repeats, int lengthA, int lengthB, int lengthC, Action<ArrayView<float>, ArrayView<float>, ArrayView<float>> call)
    {
        var rng = new Random(4);
        using var a = Tensor.FromArray(device, Uniform(rng, lengthA), lengthA);
        using var b = Tensor.FromArray(device, Uniform(rng, lengthB), lengthB);
        using var c = Tensor.Zeros(device, lengthC);
        call(a.View, b.View, c.View);
        var times = new List<double>();
        for (int r = 0; r < repeats; r++)
        {
            double sum = 0;
            device.Ops.Profiler = l => sum += l.Seconds;
            call(a.View, b.View, c.View);
            device.Ops.Profiler = null;
            times.Add(sum);
        }
        times.Sort();
        return times[times.Count / 2];
    }

    static double CheckConv(ComputeDevice device, ConvShape s, Random rng)
    {
        var x = Uniform(rng, s.InputLength);
        var w = Uniform(rng, s.WeightLength);
        using var xt = Tensor.FromArray(device, x, x.Length);
        using var wt = Tensor.FromArray(device, w, w.Length);
        using var yt = Tensor.Zeros(device, s.OutputLength);
        device.Ops.ValidConv(s, xt.View, wt.View, null, null, EpilogueFlags.None, yt.View);
        var expected = ReferenceOps.Conv2d(Double(x), Double(w), new double[s.OutChannels], s.Batch, s.InChannels, s.OutChannels, s.InHeight, s.InWidth, s.Kernel);
        return KernelCheck.RelativeError(yt.ToArray(), expected);
    }

    static double CheckWeightGrad(ComputeDevice device, ConvShape s, Random rng)
    {
        var g = Uniform(rng, s.OutputLength);
        var x = Uniform(rng, s.InputLength);
        using var gt = Tensor.FromArray(device, g, g.Length);
        using var xt = Tensor.FromArray(device, x, x.Length);
        using var dw = Tensor.Zeros(device, s.WeightLength);
        device.Ops.ConvWeightGrad(s, gt.View, xt.View, dw.View);
        var expected = ReferenceOps.Conv2dBackward(Double(x), new double[s.WeightLength], Double(g), s.Batch, s.InChannels, s.OutChannels, s.InHeight, s.InWidth, s.Kernel).dw;
        return KernelCheck.RelativeError(dw.ToArray(), expected);
    }

    static double CheckGemm(ComputeDevice device, GemmShape s, float[] a, float[] b)
    {
        using var at = Tensor.FromArray(device, a, a.Length);
        using var bt = Tensor.FromArray(device, b, b.Length);
        using var ct = Tensor.Zeros(device, s.M * s.N);
        device.Ops.Gemm(s, at.View, bt.View, null, null, EpilogueFlags.None, ct.View);
        var expected = new double[s.M * s.N];
        Parallel.For(0, s.M, m =>
        {
            for (int n = 0; n < s.N; n++)
            {
                double sum = 0;
                for (int k = 0; k < s.K; k++) sum += (double)a[m * s.StrideAm + k * s.StrideAk] * b[k * s.StrideBk + n * s.StrideBn];
                expected[m * s.N + n] = sum;
            }
        });
        return KernelCheck.RelativeError(ct.ToArray(), expected);
    }
}
