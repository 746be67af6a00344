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
/// another accelerator): <see cref="Error"/> is the worst element's share of <see cref="Tolerance"/> (at most 1
/// agrees). <see cref="Actual"/> is what the kernel produced.
/// </summary>
public sealed record CheckResult(string Kernel, string Accelerator, double Error, Tolerance Tolerance, float[] Actual)
{
    public bool Passed => Error <= 1;
}

/// <summary>
/// <c>vae-gpu check</c>: every kernel, forward and backward, on fresh random inputs (seeded by the clock
/// unless a seed is given), compared with <see cref="ReferenceOps"/>. Shapes fit no tile on purpose.
/// </summary>
public static class KernelCheck
{
    /// <summary>
    /// Every check with inputs from <paramref name="seed"/>. Each section draws from its own generator, so the
    /// same seed gives the same inputs on every accelerator, whichever GEMM versions it runs.
    /// </summary>
    public static IReadOnlyList<CheckResult> Run(ComputeDevice device, int seed)
    {
        string acc = ComputeDevice.TypeName(device.Type);
        var results = new List<CheckResult>();
        void Add(string kernel, float[] actual, double[] expected, Tolerance tolerance) =>
            results.Add(new CheckResult(kernel, acc, tolerance.Error(actual, expected), tolerance, actual));
        Random Section(int index) => new(unchecked(seed * 7919 + index)); // HashCode is salted per process

        // Every version of every versioned family on the odd cases; a version whose rule says it cannot run a
        // case here is listed by NotRun instead.
        var cases = KernelCases.Odd();
        for (int i = 0; i < cases.Count; i++)
            foreach (int v in cases[i].Versions.Where(v => cases[i].WhyNot(v, device.Versions.Limits) is null))
            {
                var (_, result, reference) = KernelHarness.Validate(device, cases[i], v, unchecked(seed * 7919 + 100 + i));
                Add(Label(cases[i], v), result, reference, cases[i].Tolerance);
            }
        // The seed notebook's model (five layers up to 64 channels on 48x48 images), one image: each call of its
        // training step with the version dispatch picks (the lab and tune validate every version at these calls).
        var notebook = KernelCases.Step(device, NotebookModel, batch: 1);
        for (int i = 0; i < notebook.Count; i++)
        {
            int v = notebook[i].Chosen(device.Versions);
            var (_, result, reference) = KernelHarness.Validate(device, notebook[i], v, unchecked(seed * 7919 + 500 + i));
            Add("notebook model: " + Label(notebook[i], v), result, reference, notebook[i].Tolerance);
        }
        LossChecks(device, Section(3), Add);
        ModelCheck(device, Section(4), Add);
        return results;
    }

    /// <summary>
    /// <c>vae-gpu check</c>: <see cref="Run"/> on every accelerator present (one line per check, and what was not
    /// run and why), then every pair of them against each other on the same inputs. True when everything agrees.
    /// </summary>
    public static bool RunEveryAccelerator(int seed, Action<string> print)
    {
        print($"inputs: seed {seed}; an element agrees when |got - ref| <= atol + rtol |ref| (each check's own); error = the worst element's share of that, <= 1 agrees");
        bool ok = true;
        void Print(CheckResult r, string what)
        {
            ok &= r.Passed;
            print($"{r.Accelerator,-7} {r.Kernel,-80} {what} {r.Error:F3}  {(r.Passed ? "ok" : "DISAGREES")}");
        }
        var ran = new List<IReadOnlyList<CheckResult>>();
        foreach (var choice in new[] { AcceleratorChoice.Cuda, AcceleratorChoice.OpenCL, AcceleratorChoice.Cpu })
        {
            if (!ComputeDevice.IsPresent(choice)) { print($"{choice.ToString().ToLowerInvariant(),-7} absent, skipped"); continue; }
            using var device = ComputeDevice.Create(choice);
            foreach (var line in NotRun(device)) print($"{ComputeDevice.TypeName(device.Type),-7} {line}");
            var results = Run(device, seed);
            foreach (var r in results) Print(r, "error");
            ran.Add(results);
        }
        // Every pair of accelerators on the same inputs: they must agree with each other, not only with the oracle.
        for (int i = 0; i < ran.Count; i++)
            for (int j = i + 1; j < ran.Count; j++)
                foreach (var r in Compare(ran[i], ran[j])) Print(r, "difference");
        print(ok ? $"all kernels agree with the reference{(ran.Count > 1 ? " and across accelerators" : "")}" : "some kernels disagree");
        return ok;
    }

    /// <summary>
    /// Accelerators against each other: for every check both ran on the same inputs, <paramref name="a"/>'s output
    /// against <paramref name="b"/>'s with the check's tolerance doubled (both are float32).
    /// </summary>
    public static IReadOnlyList<CheckResult> Compare(IReadOnlyList<CheckResult> a, IReadOnlyList<CheckResult> b)
    {
        var byKernel = b.ToDictionary(r => r.Kernel);
        return a.Where(r => byKernel.ContainsKey(r.Kernel))
            .Select(r =>
            {
                var other = byKernel[r.Kernel];
                var tolerance = r.Tolerance.Doubled;
                return new CheckResult(r.Kernel, $"{r.Accelerator} vs {other.Accelerator}",
                    tolerance.Error(r.Actual, Array.ConvertAll(other.Actual, v => (double)v)), tolerance, r.Actual);
            })
            .ToList();
    }

    static string Label(KernelCase c, int v) => $"{c.Family} v{v} {c.Kernel(v)} {c.Call}";

    /// <summary>What <see cref="Run"/> leaves out on this accelerator, and why (each family's rule).</summary>
    public static IEnumerable<string> NotRun(ComputeDevice device) =>
        from c in KernelCases.Odd()
        from v in c.Versions
        let why = c.WhyNot(v, device.Versions.Limits)
        where why is not null
        select $"{Label(c, v)} not run: {why}";

    static double[] Rand(Random rng, int n, double lo = -1, double hi = 1) =>
        Enumerable.Range(0, n).Select(_ => (double)(float)(lo + (hi - lo) * rng.NextDouble())).ToArray();
    static float[] F(double[] a) => a.Select(v => (float)v).ToArray();
    static double[] D(float[] a) => a.Select(v => (double)v).ToArray();

    static void LossChecks(ComputeDevice device, Random rng, Action<string, float[], double[], Tolerance> addWith)
    {
        void add(string kernel, float[] actual, double[] expected) => addWith(kernel, actual, expected, Tolerance.Elementwise);
        var ops = device.Ops;
        int n = 2 * 784 + 3;
        var x = Rand(rng, n, 0, 1); var y = Rand(rng, n, 0.01, 0.99);
        using var xt = Tensor.FromArray(device, F(x), n);
        using var yt = Tensor.FromArray(device, F(y), n);
        using var partials = Tensor.Zeros(device, device.Ops.LossPartials);
        using var none = Tensor.Zeros(device, 0);
        using var total = Tensor.Zeros(device, 1);
        ops.BcePartials(xt.View, yt.View, partials.View);
        ops.FinishLoss(partials.View, none.View, none.View, KlKind.Seed, total.View, 0);
        addWith("bce (summed)", total.ToArray(), new[] { ReferenceOps.BinaryCrossEntropy(x, y) }, new(0, 1e-5));
        // A GPU's partial count (an H200's one wave): FinishLoss sums them in two levels.
        int big = 128 * 784;
        var bx = Rand(rng, big, 0, 1); var by = Rand(rng, big, 0.01, 0.99);
        using (var bxt = Tensor.FromArray(device, F(bx), big))
        using (var byt = Tensor.FromArray(device, F(by), big))
        using (var wave = Tensor.Zeros(device, 132 * 2048))
        {
            ops.BcePartials(bxt.View, byt.View, wave.View);
            ops.FinishLoss(wave.View, none.View, none.View, KlKind.Seed, total.View, 0);
            addWith("bce (summed in two levels)", total.ToArray(), new[] { ReferenceOps.BinaryCrossEntropy(bx, by) }, new(0, 1e-5));
        }
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
            addWith($"kl {VaeConfig.KlName(kind)} (summed)", total.ToArray(), new[] { ReferenceOps.Kl(mu, sig, kind) }, new(0, 1e-5));
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
        device.Upload(images.View, bytes);
        using var orderBuf = device.Allocate<int>(order.Length);
        device.Upload(orderBuf.View, order);
        using var gathered = Tensor.Zeros(device, 3, 784);
        ops.GatherImages(images.View, orderBuf.View, 0, 3, 784, gathered.View);
        add("gather images", gathered.ToArray(), order.SelectMany(o => bytes.Skip(o * 784).Take(784).Select(v => v / 255.0)).ToArray());
        ImportanceChecks(device, rng, addWith);
    }

    /// <summary>The importance-weighted bound's kernels over 3 images x 4 samples, decoded in two chunks (5 and
    /// 7 rows) that split an image, with random "reconstructions" in place of the decoder's.</summary>
    static void ImportanceChecks(ComputeDevice device, Random rng, Action<string, float[], double[], Tolerance> addWith)
    {
        var ops = device.Ops;
        const int images = 3, samples = 4, lat = 5, pixels = 784, pairs = images * samples;
        const float priorVariance = 0.5f;
        var x = Rand(rng, images * pixels, 0, 1); var y = Rand(rng, pairs * pixels, 0.01, 0.99);
        var mu = Rand(rng, images * lat, -2, 2); var sigma = Rand(rng, images * lat, 0.2, 1.5);
        ulong seed = (ulong)rng.NextInt64();
        using var xt = Tensor.FromArray(device, F(x), images * pixels);
        using var mut = Tensor.FromArray(device, F(mu), images * lat);
        using var sigmat = Tensor.FromArray(device, F(sigma), images * lat);
        using var logWeight = Tensor.Zeros(device, pairs);
        using var firstBce = Tensor.Zeros(device, images);
        using var bound = Tensor.Zeros(device, images + 1);
        var eps = new float[pairs * lat]; var z = new float[pairs * lat];
        foreach (var (first, rows) in new[] { (0, 5), (5, 7) })
        {
            var b = new ImportanceBatch(lat, samples, first, 0, pixels, priorVariance);
            using var et = Tensor.Zeros(device, rows * lat);
            using var zt = Tensor.Zeros(device, rows * lat);
            using var yt = Tensor.FromArray(device, F(y.Skip(first * pixels).Take(rows * pixels).ToArray()), rows * pixels);
            ops.SampleImportance(b, mut.View, sigmat.View, seed, et.View, zt.View);
            ops.ImportanceLogWeights(b, xt.View, yt.View, zt.View, et.View, sigmat.View, logWeight.View, firstBce.View);
            et.ToArray().CopyTo(eps, first * lat);
            zt.ToArray().CopyTo(z, first * lat);
        }
        ops.LogMeanExp(logWeight.View, samples, 1, bound.View);
        var rEps = new double[pairs * lat]; var rLogWeight = new double[pairs];
        for (int p = 0; p < pairs; p++)
        {
            int image = p / samples;
            for (int d = 0; d < lat; d++) rEps[p * lat + d] = ReferenceOps.Normal(seed, (ulong)(p % samples), (uint)(image * lat + d));
            rLogWeight[p] = ReferenceOps.ImportanceLogWeight(x.Skip(image * pixels).Take(pixels).ToArray(), y.Skip(p * pixels).Take(pixels).ToArray(),
                mu.Skip(image * lat).Take(lat).ToArray(), sigma.Skip(image * lat).Take(lat).ToArray(), D(eps.Skip(p * lat).Take(lat).ToArray()), priorVariance);
        }
        var rZ = rEps.Select((e, i) => mu[i / (samples * lat) * lat + i % lat] + sigma[i / (samples * lat) * lat + i % lat] * e).ToArray();
        addWith("importance noise (philox)", eps, rEps, Tolerance.Elementwise);
        addWith("importance z", z, rZ, Tolerance.Elementwise);
        var sums = new Tolerance(1e-4, 1e-5);
        addWith("importance log weights", logWeight.ToArray(), rLogWeight, sums);
        addWith("importance: bce of sample 0", firstBce.ToArray(), Enumerable.Range(0, images).Select(i =>
            ReferenceOps.BinaryCrossEntropy(x.Skip(i * pixels).Take(pixels).ToArray(), y.Skip(i * samples * pixels).Take(pixels).ToArray())).ToArray(), sums);
        addWith("importance log-mean-exp", bound.ToArray().Skip(1).ToArray(),
            Enumerable.Range(0, images).Select(i => ReferenceOps.LogMeanExp(rLogWeight.Skip(i * samples).Take(samples).ToArray())).ToArray(), sums);
    }

    /// <summary>The seed notebook's model: channels [1] + [4, 32, 64, 64, 64] on 48x48 gray images, lat 16.</summary>
    public static readonly VaeConfig NotebookModel = VaeConfig.FromChannels(new[] { 4, 32, 64, 64, 64 }, 16, 3, height: 48, width: 48);

    /// <summary>The double-precision reference of a model of <paramref name="c"/>, with its tensor names.</summary>
    public static ReferenceVae Reference(VaeConfig c) => new(c.AllChannels.ToArray(), c.Height, c.Width, c.Latent, c.Kernel,
        Enumerable.Range(0, c.Depth).Select(i => Encoder.ConvName(c, i)).ToArray(), Decoder.LinearName(c),
        Enumerable.Range(0, c.Depth).Select(j => Decoder.DeconvName(c, j)).ToArray());

    /// <summary>The models a step is checked on: the problem set's, and the notebook's kind (five layers, RGB, a
    /// non-square image) with a KL weight.</summary>
    static readonly (string Name, VaeConfig Config, float KlWeight)[] CheckedModels =
    {
        ("vae step", new VaeConfig(4, 6, 3, 3), 1f),
        ("5-layer rgb vae step", VaeConfig.FromChannels(new[] { 3, 5, 4, 6, 2 }, 3, 3, KlKind.Standard, imageChannels: 3, height: 14, width: 13), 0.5f),
    };

    static void ModelCheck(ComputeDevice device, Random rng, Action<string, float[], double[], Tolerance> add)
    {
        const int batch = 4;
        foreach (var (name, config, klWeight) in CheckedModels)
        {
            using var vae = new Vae.Gpu.Model.VAE(device, config, rng.Next()) { KlWeight = klWeight };
            var x = Rand(rng, batch * config.Pixels, 0, 1);
            using var xt = Tensor.FromArray(device, F(x), batch, config.ImageChannels, config.Height, config.Width);
            vae.Forward(xt);
            vae.Parameters.Grads.Poison();
            vae.Backward();
            var p = vae.Parameters.ToHost().ToDictionary(kv => kv.Key, kv => D(kv.Value));
            var r = Reference(config).Step(p, x, D(vae.Eps!.ToArray()), batch, config.Kl, klWeight);
            add($"{name}: loss", new[] { vae.Loss }, new[] { r.Loss }, new(0, 1e-4));
            // Gradients differ by orders of magnitude from tensor to tensor: each is held to its own scale.
            var grads = vae.Parameters.GradsToHost();
            foreach (var (tensor, expected) in r.Grads)
                add($"{name}: {tensor} gradient", grads[tensor], expected, Tolerance.OfScale(1e-4, expected));
        }
    }
}
