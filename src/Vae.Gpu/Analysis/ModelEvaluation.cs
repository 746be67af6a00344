using System.Diagnostics;
using Vae.Gpu.Data;
using Vae.Gpu.Devices;
using Vae.Gpu.Kernels;
using Vae.Gpu.Layers;
using Vae.Gpu.Model;
using Vae.Gpu.Tensors;

namespace Vae.Gpu.Analysis;

/// <summary>How much evaluation to do: <paramref name="Samples"/> (k) per image for the importance-weighted
/// bound, the first <paramref name="Images"/> test images (all when null), and the noise's seed.</summary>
public sealed record EvaluationOptions(int Samples = ModelEvaluation.DefaultSamples, int? Images = null, ulong Seed = 0)
{
    public const int MaxSamples = 100_000;

    public EvaluationOptions Validate()
    {
        if (Samples < 1 || Samples > MaxSamples)
            throw new VaeException($"«Samples» {Samples}: the importance-weighted bound needs 1..{MaxSamples:N0} samples per image (k = 1 gives the ELBO)");
        if (Images is < 1)
            throw new VaeException($"«Images» {Images}: evaluate at least one test image (leave it out for all of them)");
        return this;
    }
}

/// <summary>The importance-weighted bound (IWAE, Burda et al. 2015) over the evaluated images: its mean, and the
/// standard error of that mean over images.</summary>
public sealed record IwaeBound(int K, double Bound, double StdErr, int Images, ulong Seed, double Seconds)
{
    /// <summary>Decoded (image, sample) pairs per second, the decoder and the bound's kernels included.</summary>
    public double PairsPerSecond => Images * (double)K / Seconds;
}

/// <summary>How much of the class labels the latent means carry: a k-nearest-neighbour probe and, for the
/// figure, each class's centroid in the two plotted dimensions.</summary>
public sealed record ClassView(double ProbeAccuracy, int Neighbours, int[] Dims, double[][] Centroids, IReadOnlyList<string> Names)
{
    /// <summary>A guess's accuracy with as many classes as the data names.</summary>
    public double Chance => 1.0 / Math.Max(1, Names.Count);
    public string Probe => $"{Neighbours}-nearest-neighbour vote on mu (all dimensions), two folds of the test images (by a fixed hash of the position), each predicted from the other";
}

/// <summary>
/// The numbers VAEs are compared by, per test image in nats. <see cref="Kl"/> and <see cref="KlPerDim"/> are true
/// KL divergences to the prior that matches the trained KL (N(0, I/2) for the problem set's term, N(0, I) for the
/// textbook one); <see cref="Loss"/> is the training objective with the KL term as trained.
/// </summary>
public sealed record ModelEvaluation(
    KlKind KlKind, int Images, double Loss, double Bce, double Kl, double[] KlPerDim, double BceFloor,
    double[] MuVariances, IwaeBound Iwae, ClassView Classes)
{
    public const int DefaultSamples = 5;
    /// <summary>Burda et al.'s activity threshold on the variance of mu over the data.</summary>
    public const double ActiveThreshold = 0.01;

    /// <summary>The evidence lower bound, -(BCE + KL): a bound on log p(x), negative.</summary>
    public double Elbo => -(Bce + Kl);
    public double BceAboveFloor => Bce - BceFloor;
    public int ActiveUnits => MuVariances.Count(v => v > ActiveThreshold);
    public string PriorName => KlKind == KlKind.Seed ? "N(0, I/2)" : "N(0, I)";

    /// <summary>The problem set's term minus the true KL to N(0, 1/2), per dimension: (1/2) ln 2.</summary>
    public static double SeedOffsetPerDim => 0.5 * Math.Log(2);
    public static float PriorVariance(KlKind kind) => kind == KlKind.Seed ? 0.5f : 1f;

    /// <summary>A few lines for the terminal.</summary>
    public string Summary
    {
        get
        {
            string F(double v) => v.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture);
            var sorted = KlPerDim.Select((v, d) => (v, d)).OrderByDescending(p => p.v).Select(p => $"{p.d}: {F(p.v)}");
            return string.Join(Environment.NewLine,
                $"test images: {Images:N0}; all figures in nats per image",
                $"loss (the training objective, KL as trained: {VaeConfig.KlName(KlKind)}): {F(Loss)}",
                $"ELBO: {F(Elbo)} = -(BCE {F(Bce)} + KL to {PriorName} {F(Kl)})",
                $"BCE floor (entropy of the gray-level targets): {F(BceFloor)}; the BCE lies {F(BceAboveFloor)} above it",
                $"active units: {ActiveUnits} of {KlPerDim.Length} (variance of mu over the images > {ActiveThreshold})",
                $"KL per dimension, largest first: {string.Join(", ", sorted)}",
                $"IWAE bound, k = {Iwae.K}: log p(x) >= {F(Iwae.Bound)} ± {F(Iwae.StdErr)} (standard error over images); {Iwae.PairsPerSecond:N0} images x samples per second",
                $"class probe: {Classes.ProbeAccuracy:P1} ({Classes.Neighbours}-NN on mu, two folds; chance {Classes.Chance:P0})");
        }
    }
}

/// <summary>Computes <see cref="ModelEvaluation"/>: the bound on the accelerator, the rest from mu and sigma on the host in double.</summary>
public static class Evaluator
{
    /// <summary>Decoded rows per launch chain: the analysis's encode batch, whose activations fit wherever training does.</summary>
    public const int ChunkRows = LatentAnalysis.EncodeBatch;
    public const int ProbeNeighbours = 5;

    /// <summary>
    /// Evaluates <paramref name="vae"/> on the first <paramref name="mu"/>.Length / lat images of <paramref name="test"/>,
    /// whose encoder outputs are <paramref name="mu"/> and <paramref name="sigma"/>; <paramref name="dims"/> are the
    /// two plotted dimensions.
    /// </summary>
    public static ModelEvaluation Run(Vae.Gpu.Model.VAE vae, Split test, float[] mu, float[] sigma, int[] dims, EvaluationOptions o, Action<string>? log = null)
    {
        o.Validate();
        int lat = vae.Config.Latent, n = mu.Length / lat, k = o.Samples;
        if ((long)n * k > int.MaxValue)
            throw new VaeException($"«Samples» {k} with {n:N0} images makes more than {int.MaxValue:N0} image x sample pairs; lower «Samples» or «Images»");
        var kind = vae.Config.Kl;
        var watch = Stopwatch.StartNew();
        var (bound, firstBce) = ImportanceBound(vae, test, mu, sigma, n, o, log);
        double seconds = watch.Elapsed.TotalSeconds;

        var klPerDim = new double[lat];
        for (int i = 0; i < n; i++)
            for (int d = 0; d < lat; d++)
            {
                double m = mu[i * lat + d], s = sigma[i * lat + d];
                klPerDim[d] += kind == KlKind.Seed
                    ? m * m + s * s - Math.Log(s) - 0.5 - ModelEvaluation.SeedOffsetPerDim
                    : 0.5 * (m * m + s * s - 1) - Math.Log(s);
            }
        for (int d = 0; d < lat; d++) klPerDim[d] /= n;
        Finite.RequireEachImage("the reconstruction BCE", firstBce);
        Finite.RequireEachImage("the IWAE bound", bound);
        for (int d = 0; d < lat; d++) Finite.Require($"the KL of latent dimension {d} (mean over the images)", klPerDim[d]);
        double kl = klPerDim.Sum(), bce = firstBce.Average(v => (double)v);
        double trainedKl = kind == KlKind.Seed ? kl + lat * ModelEvaluation.SeedOffsetPerDim : kl;
        double meanBound = bound.Average(v => (double)v);
        double stdErr = n > 1 ? Math.Sqrt(bound.Sum(v => (v - meanBound) * (v - meanBound)) / (n - 1) / n) : double.NaN;
        var classes = ClassProbe.Run(mu, n, lat, test.Labels, dims, ProbeNeighbours, ClassProbe.NamesOf(test));
        return new ModelEvaluation(kind, n, bce + trainedKl, bce, kl, klPerDim, BceFloor(test, n),
            LatentStatistics.ColumnVariances(mu, n, lat), new IwaeBound(k, meanBound, stdErr, n, o.Seed, seconds), classes);
    }

    /// <summary>Mean over the first <paramref name="n"/> images of the entropy of their pixels as Bernoulli
    /// targets: the lowest summed BCE any reconstruction can reach.</summary>
    public static double BceFloor(Split test, int n)
    {
        // Pixels take 256 values: tabulate each one's entropy once.
        var h = new double[256];
        for (int v = 1; v < 255; v++)
        {
            double x = (float)(v / 255f);
            h[v] = -(x * Math.Log(x) + (1 - x) * Math.Log(1 - x));
        }
        double sum = 0;
        for (long i = 0; i < (long)n * test.PixelsPerImage; i++) sum += h[test.Pixels[i]];
        return sum / n;
    }

    /// <summary>Per image: the bound's log-mean-exp over k samples, and the summed BCE of sample 0.</summary>
    static (float[] Bound, float[] FirstBce) ImportanceBound(Vae.Gpu.Model.VAE vae, Split test, float[] mu, float[] sigma, int n, EvaluationOptions o, Action<string>? log)
    {
        var device = vae.Device;
        var ops = device.Ops;
        int lat = vae.Config.Latent, k = o.Samples, pixels = test.PixelsPerImage;
        // A group's pairs fill whole chunks where k divides the chunk; with k above it, a group is one image.
        int group = Math.Max(1, ChunkRows / k);
        float priorVariance = ModelEvaluation.PriorVariance(vae.Config.Kl);
        using var images = Tensor.FromArray(device, test.Images(0, n), n, pixels);
        using var muT = Tensor.FromArray(device, mu, n * lat);
        using var sigmaT = Tensor.FromArray(device, sigma, n * lat);
        using var logWeight = Tensor.Zeros(device, group * k);
        using var firstBce = Tensor.Zeros(device, n);
        using var bound = Tensor.Zeros(device, n);
        using var eps = new Workspace(device);
        using var z = new Workspace(device);
        int reported = 0;
        var watch = Stopwatch.StartNew();
        for (int first = 0; first < n; first += group)
        {
            int g = Math.Min(group, n - first), groupFirstPair = first * k, groupPairs = g * k;
            for (int c = 0; c < groupPairs; c += ChunkRows)
            {
                int rows = Math.Min(ChunkRows, groupPairs - c);
                var b = new ImportanceBatch(lat, k, groupFirstPair + c, groupFirstPair, pixels, priorVariance);
                var e = eps.Get(rows, lat);
                var zs = z.Get(rows, lat);
                ops.SampleImportance(b, muT.View, sigmaT.View, o.Seed, e.View, zs.View);
                var y = vae.Decoder.Forward(zs);
                ops.ImportanceLogWeights(b, images.View, y.View, zs.View, e.View, sigmaT.View, logWeight.View, firstBce.View);
            }
            ops.LogMeanExp(logWeight.View.SubView(0, groupPairs), k, first, bound.View);
            int done = first + g;
            if (log is not null && done * 10L / n > reported && done < n)
            {
                device.Accelerator.Synchronize();
                reported = (int)(done * 10L / n);
                double rate = (double)done * k / watch.Elapsed.TotalSeconds;
                log($"  IWAE bound: {done:N0}/{n:N0} images x {k} samples ({rate:N0} per second, about {(n - done) * (double)k / rate:F0} s left)");
            }
        }
        return (bound.ToArray(), firstBce.ToArray());
    }
}
