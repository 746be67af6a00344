using ILGPU.Runtime;
using Vae.Gpu.Devices;
using Vae.Gpu.Kernels;
using Vae.Gpu.Kernels.Reference;
using Vae.Gpu.Layers;
using Vae.Gpu.Model;
using Vae.Gpu.Tensors;

namespace Vae.Gpu.Diagnostics;

/// <summary>
/// One kernel's agreement with the double-precision oracle (or, from <see cref="KernelCheck.Compare"/>, with
/// another accelerator): the normwise relative error. <see cref="Actual"/> is what the kernel produced.
/// </summary>
public sealed record CheckResult(string Kernel, string Accelerator, double RelativeError, double Tolerance, float[] Actual)
{
    public bool Passed => RelativeError <= Tolerance;
}

/// <summary>
/// <c>vae-gpu check</c>: every kernel, forward and backward, on fresh random inputs (seeded by the clock
/// unless a seed is given), compared with <see cref="ReferenceOps"/>. Shapes fit no tile on purpose.
/// </summary>
public static class KernelCheck
{
    public const double Tolerance = 1e-4;

    /// <summary>
    /// Every check with inputs from <paramref name="seed"/>. Each section draws from its own generator, so the
    /// same seed gives the same inputs on every accelerator, whichever GEMM versions it runs.
    /// </summary>
    public static IReadOnlyList<CheckResult> Run(ComputeDevice device, int seed)
    {
        string acc = ComputeDevice.TypeName(device.Type);
        var results = new List<CheckResult>();
        void Add(string kernel, float[] actual, double[] expected) =>
            results.Add(new CheckResult(kernel, acc, RelativeError(actual, expected), Tolerance, actual));
        Random Section(int index) => new(unchecked(seed * 7919 + index)); // HashCode is salted per process

        // Each convolution version with a weight-gradient version (v2 beside conv v4, v1 beside the others), so
        // every version of both runs on the same inputs.
        foreach (var version in Enum.GetValues<ConvVersion>())
        {
            var wgrad = version == ConvVersion.Rows ? WeightGradVersion.Rows : WeightGradVersion.Tiled;
            device.Ops.ConvOverride = version;
            device.Ops.WeightGradOverride = wgrad;
            try { ConvChecks(device, Section(1), (kernel, actual, expected) => Add($"{kernel} (conv v{(int)version}, weight-grad v{(int)wgrad})", actual, expected)); }
            finally { device.Ops.ConvOverride = null; device.Ops.WeightGradOverride = null; }
        }
        foreach (var version in Enum.GetValues<GemmVersion>().Where(v => Supports(device, v)))
            LinearChecks(device, Section(2), version, Add);
        LossChecks(device, Section(3), Add);
        ModelCheck(device, Section(4), Add);
        return results;
    }

    /// <summary>
    /// Accelerators against each other: for every check both ran on the same inputs, the relative difference
    /// of <paramref name="a"/>'s output from <paramref name="b"/>'s (both float; same tolerance as the oracle).
    /// </summary>
    public static IReadOnlyList<CheckResult> Compare(IReadOnlyList<CheckResult> a, IReadOnlyList<CheckResult> b)
    {
        var byKernel = b.ToDictionary(r => r.Kernel);
        return a.Where(r => byKernel.ContainsKey(r.Kernel))
            .Select(r => new CheckResult(r.Kernel, $"{r.Accelerator} vs {byKernel[r.Kernel].Accelerator}",
                RelativeError(r.Actual, byKernel[r.Kernel].Actual.Select(v => (double)v).ToArray()), Tolerance, r.Actual))
            .ToList();
    }

    /// <summary>Whether the accelerator's groups are large enough for the GEMM version (v2 needs 16x16).</summary>
    public static bool Supports(ComputeDevice device, GemmVersion version) =>
        version != GemmVersion.SharedTiled || device.Accelerator.MaxNumThreadsPerGroup >= GemmKernels.SharedTile * GemmKernels.SharedTile;

    /// <summary>What <see cref="Run"/> leaves out on this accelerator, and why.</summary>
    public static IEnumerable<string> NotRun(ComputeDevice device) => Supports(device, GemmVersion.SharedTiled)
        ? Array.Empty<string>()
        : new[] { $"gemm v2 shared-tiled not run: it needs {GemmKernels.SharedTile * GemmKernels.SharedTile}-thread groups, this accelerator has {device.Accelerator.MaxNumThreadsPerGroup} (the tests run it on OpenCL and CUDA)" };

    static double[] Rand(Random rng, int n, double lo = -1, double hi = 1) =>
        Enumerable.Range(0, n).Select(_ => (double)(float)(lo + (hi - lo) * rng.NextDouble())).ToArray();
    static float[] F(double[] a) => a.Select(v => (float)v).ToArray();
    static double[] D(float[] a) => a.Select(v => (double)v).ToArray();

    public static double RelativeError(float[] actual, double[] expected)
    {
        double scale = 0, worst = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            if (!float.IsFinite(actual[i])) return double.PositiveInfinity;
            scale = Math.Max(scale, Math.Abs(expected[i]));
            worst = Math.Max(worst, Math.Abs(actual[i] - expected[i]));
        }
        return worst / Math.Max(scale, 1e-30);
    }

    static ParameterStore Store(ComputeDevice device, IEnumerable<(string, int[])> specs, Random rng, out Dictionary<string, double[]> p)
    {
        var store = new ParameterStore(device, specs);
        p = store.Parameters.ToDictionary(x => x.Name, x => Rand(rng, x.Length));
        store.Load(p.ToDictionary(kv => kv.Key, kv => F(kv.Value)));
        store.Grads.Poison();
        return store;
    }

    static void ConvChecks(ComputeDevice device, Random rng, Action<string, float[], double[]> add)
    {
        const int b = 3, ci = 5, co = 7, h = 11, w = 13, k = 3;
        ConvLayerCheck(device, rng, add, "conv2d", Conv2d.Specs("c", ci, co, k), store => new Conv2d(store, "c", ci, co, k, Activation.None),
            (x, p) => ReferenceOps.Conv2d(x, p["c.weight"], p["c.bias"], b, ci, co, h, w, k),
            (x, p, dy) => ReferenceOps.Conv2dBackward(x, p["c.weight"], dy, b, ci, co, h, w, k), new[] { b, ci, h, w });
        ConvLayerCheck(device, rng, add, "convtranspose2d", ConvTranspose2d.Specs("c", ci, co, k), store => new ConvTranspose2d(store, "c", ci, co, k, Activation.None),
            (x, p) => ReferenceOps.ConvTranspose2d(x, p["c.weight"], p["c.bias"], b, ci, co, h, w, k),
            (x, p, dy) => ReferenceOps.ConvTranspose2dBackward(x, p["c.weight"], dy, b, ci, co, h, w, k), new[] { b, ci, h, w });
    }

    /// <summary>Forward, input, weight and bias gradients of one convolution layer against the oracle.</summary>
    static void ConvLayerCheck(
        ComputeDevice device, Random rng, Action<string, float[], double[]> add, string name,
        IEnumerable<(string, int[])> specs, Func<ParameterStore, ConvolutionLayer> make,
        Func<double[], Dictionary<string, double[]>, double[]> forward,
        Func<double[], Dictionary<string, double[]>, double[], (double[] dx, double[] dw, double[] db)> backward, int[] inputShape)
    {
        using var store = Store(device, specs, rng, out var p);
        using var layer = make(store);
        var x = Rand(rng, inputShape.Aggregate(1, (m, d) => m * d));
        using var xt = Tensor.FromArray(device, F(x), inputShape);
        var y = layer.Forward(xt);
        add($"{name} forward", y.ToArray(), forward(x, p));
        var dy = Rand(rng, y.Length);
        using var dyt = Tensor.FromArray(device, F(dy), y.Shape);
        var dx = layer.Backward(dyt, true)!;
        var r = backward(x, p, dy);
        add($"{name} dinput", dx.ToArray(), r.dx);
        add($"{name} dweight", layer.Weight.Grad.ToArray(), r.dw);
        add($"{name} dbias", layer.Bias.Grad.ToArray(), r.db);
    }

    static void LinearChecks(ComputeDevice device, Random rng, GemmVersion version, Action<string, float[], double[]> add)
    {
        const int b = 17, inF = 333, outF = 15;
        device.Ops.GemmOverride = version;
        try
        {
            using var store = Store(device, Linear.Specs("l", inF, outF), rng, out var p);
            using var linear = new Linear(store, "l", inF, outF, Activation.None);
            var x = Rand(rng, b * inF);
            using var xt = Tensor.FromArray(device, F(x), b, inF);
            string v = $"gemm v{(int)version} {version.Describe()}";
            add($"linear forward ({v})", linear.Forward(xt).ToArray(), ReferenceOps.Linear(x, p["l.weight"], p["l.bias"], b, inF, outF));
            var dy = Rand(rng, b * outF);
            using var dyt = Tensor.FromArray(device, F(dy), b, outF);
            var dx = linear.Backward(dyt);
            var r = ReferenceOps.LinearBackward(x, p["l.weight"], dy, b, inF, outF);
            add($"linear dinput ({v})", dx.ToArray(), r.dx);
            add($"linear dweight ({v})", linear.Weight.Grad.ToArray(), r.dw);
            add($"linear dbias ({v})", linear.Bias.Grad.ToArray(), r.db);
        }
        finally { device.Ops.GemmOverride = null; }
    }

    static void LossChecks(ComputeDevice device, Random rng, Action<string, float[], double[]> add)
    {
        var ops = device.Ops;
        int n = 2 * 784 + 3;
        var x = Rand(rng, n, 0, 1); var y = Rand(rng, n, 0.01, 0.99);
        using var xt = Tensor.FromArray(device, F(x), n);
        using var yt = Tensor.FromArray(device, F(y), n);
        using var partials = Tensor.Zeros(device, DeviceOps.LossPartials);
        using var none = Tensor.Zeros(device, 0);
        using var total = Tensor.Zeros(device, 1);
        ops.BcePartials(xt.View, yt.View, partials.View);
        ops.FinishLoss(partials.View, none.View, none.View, KlKind.Seed, total.View, 0);
        add("bce (summed)", total.ToArray(), new[] { ReferenceOps.BinaryCrossEntropy(x, y) });
        using var dLogit = Tensor.Zeros(device, n);
        ops.BceSigmoidBackward(xt.View, yt.View, dLogit.View);
        add("bce + sigmoid backward", dLogit.ToArray(), ReferenceOps.SigmoidBackward(y, ReferenceOps.BinaryCrossEntropyGrad(x, y)));

        const int latent = 16;
        int m = 7 * latent;
        var mu = Rand(rng, m, -2, 2); var logSigma = Rand(rng, m, -1, 1);
        var rSigma = ReferenceOps.Exp(logSigma);
        using var heads = Tensor.FromArray(device, F(ReferenceOps.HeadsLayout(mu, logSigma, latent)), 2 * m);
        using var mt = Tensor.Zeros(device, m);
        using var sigma = Tensor.Zeros(device, m);
        ops.SplitHeads(heads.View, latent, mt.View, sigma.View);
        add("split heads: mu", mt.ToArray(), mu);
        add("split heads: sigma = exp", sigma.ToArray(), rSigma);
        var sig = D(sigma.ToArray());
        foreach (var kind in new[] { KlKind.Seed, KlKind.Standard })
        {
            ops.FinishLoss(none.View, mt.View, sigma.View, kind, total.View, 0);
            add($"kl {VaeConfig.KlName(kind)} (summed)", total.ToArray(), new[] { ReferenceOps.Kl(mu, sig, kind) });
        }
        using var eps = Tensor.Zeros(device, m);
        using var z = Tensor.Zeros(device, m);
        ulong seed = (ulong)rng.NextInt64(), step = (ulong)rng.Next(1000);
        var rEps = Enumerable.Range(0, m).Select(i => ReferenceOps.Normal(seed, step, (uint)i)).ToArray();
        var rZ = mu.Select((v, i) => v + sig[i] * rEps[i]).ToArray();
        ops.Gaussian(mt.View, sigma.View, seed, step, eps.View, z.View);
        add("gaussian noise (philox)", eps.ToArray(), rEps);
        add("gaussian z", z.ToArray(), rZ);
        ops.SplitHeadsAndSample(heads.View, latent, seed, step, mt.View, sigma.View, eps.View, z.View);
        add("split heads + gaussian z", z.ToArray(), rZ);
        var dz = Rand(rng, m);
        using var dzt = Tensor.FromArray(device, F(dz), m);
        using var dHeads = Tensor.Zeros(device, 2 * m);
        var epsD = D(eps.ToArray());
        ops.GaussianBackward(dzt.View, mt.View, sigma.View, eps.View, KlKind.Seed, latent, dHeads.View);
        var (kMu, kSig) = ReferenceOps.KlGrad(mu, sig, KlKind.Seed);
        add("gaussian + kl + split backward", dHeads.ToArray(), ReferenceOps.HeadsLayout(
            dz.Select((g, i) => g + kMu[i]).ToArray(), dz.Select((g, i) => (g * epsD[i] + kSig[i]) * sig[i]).ToArray(), latent));

        int np = 1003;
        var p = Rand(rng, np); var g = Rand(rng, np); var mm = new double[np]; var vv = new double[np];
        using var pt = Tensor.FromArray(device, F(p), np);
        using var gt = Tensor.FromArray(device, F(g), np);
        using var m1 = Tensor.Zeros(device, np);
        using var v1 = Tensor.Zeros(device, np);
        ops.Adam(new AdamStep(1e-2f, 0.9f, 0.999f, 1e-8f, 1), pt.View, gt.View, m1.View, v1.View);
        ReferenceOps.Adam(p, g, mm, vv, 1, 1e-2, 0.9, 0.999, 1e-8);
        add("adam", pt.ToArray(), p);

        var bytes = new byte[5 * 784];
        rng.NextBytes(bytes);
        int[] order = { 3, 1, 4 };
        using var images = device.Allocate<byte>(bytes.Length);
        images.View.CopyFromCPU(bytes);
        using var orderBuf = device.Allocate<int>(order.Length);
        orderBuf.View.CopyFromCPU(order);
        device.Synchronize();
        using var gathered = Tensor.Zeros(device, 3, 784);
        ops.GatherImages(images.View, orderBuf.View, 0, 3, 784, gathered.View);
        add("gather images", gathered.ToArray(), order.SelectMany(o => bytes.Skip(o * 784).Take(784).Select(v => v / 255.0)).ToArray());
    }

    static void ModelCheck(ComputeDevice device, Random rng, Action<string, float[], double[]> add)
    {
        const int batch = 4;
        var config = new VaeConfig(4, 6, 3, 3);
        using var vae = new Vae.Gpu.Model.Vae(device, config, rng.Next());
        var x = Rand(rng, batch * 784, 0, 1);
        using var xt = Tensor.FromArray(device, F(x), batch, 1, 28, 28);
        vae.Forward(xt);
        vae.Parameters.Grads.Poison();
        vae.Backward();
        var p = vae.Parameters.ToHost().ToDictionary(kv => kv.Key, kv => D(kv.Value));
        var r = new ReferenceVae(config.C1, config.C2, config.Latent, config.Kernel).Step(p, x, D(vae.Eps!.ToArray()), batch, config.Kl);
        add("vae step: loss", new[] { vae.Loss }, new[] { r.Loss });
        var (actual, expected) = Normalised(vae.Parameters.GradsToHost(), r.Grads);
        add("vae step: every gradient", actual, expected);
    }

    static double MaxAbs(double[] a) => a.Max(Math.Abs);

    /// <summary>Each parameter's gradient scaled by its own largest reference value, so small tensors count as much as large ones.</summary>
    static (float[] Actual, double[] Expected) Normalised(Dictionary<string, float[]> actual, Dictionary<string, double[]> expected)
    {
        var a = new List<float>(); var e = new List<double>();
        foreach (var (name, r) in expected)
        {
            double s = Math.Max(MaxAbs(r), 1e-30);
            a.AddRange(actual[name].Select(v => (float)(v / s)));
            e.AddRange(r.Select(v => v / s));
        }
        return (a.ToArray(), e.ToArray());
    }
}
