using Vae.Gpu.Analysis;
using Vae.Gpu.Data;
using Vae.Gpu.Devices;
using Vae.Gpu.Kernels;
using Vae.Gpu.Kernels.Reference;
using Vae.Gpu.Model;
using Vae.Gpu.Training;

namespace Vae.Gpu.Tests.Analysis;

/// <summary><see cref="Evaluator"/>: the importance-weighted bound, the KL terms, the BCE floor and the class probe.</summary>
public class EvaluationTests
{
    static (float[] Mu, float[] Sigma, int[] Dims) Encode(Vae.Gpu.Model.VAE vae, Split test)
    {
        var (mu, sigma, emb) = LatentAnalysis.Encode(vae, test);
        return (mu, sigma, LatentStatistics.TopTwo(LatentStatistics.ColumnVariances(emb, test.Count, vae.Config.Latent)));
    }

    /// <summary>The bound from the same noise computed on the host in double: eps from the reference Philox, the
    /// densities written out, the log-mean-exp factored; only the decoder is the device's.</summary>
    static (double Bound, double Bce) HostBound(Vae.Gpu.Model.VAE vae, Split test, float[] mu, float[] sigma, int k, ulong seed)
    {
        int lat = vae.Config.Latent, n = test.Count;
        double v = ModelEvaluation.PriorVariance(vae.Config.Kl);
        var eps = new double[n * k][];
        var z = new List<float[]>();
        for (int p = 0; p < n * k; p++)
        {
            int i = p / k;
            eps[p] = Enumerable.Range(0, lat).Select(d => (double)(float)ReferenceOps.Normal(seed, (ulong)(p % k), (uint)(i * lat + d))).ToArray();
            z.Add(Enumerable.Range(0, lat).Select(d => mu[i * lat + d] + sigma[i * lat + d] * (float)eps[p][d]).ToArray());
        }
        var y = LatentAnalysis.Decode(vae, z);
        double bound = 0, bce = 0;
        for (int i = 0; i < n; i++)
        {
            var x = test.Images(i, 1).Select(f => (double)f).ToArray();
            var m = mu.Skip(i * lat).Take(lat).Select(f => (double)f).ToArray();
            var s = sigma.Skip(i * lat).Take(lat).Select(f => (double)f).ToArray();
            var w = Enumerable.Range(0, k).Select(j => ReferenceOps.ImportanceLogWeight(x, y[i * k + j].Select(f => (double)f).ToArray(), m, s, eps[i * k + j], v)).ToArray();
            bound += ReferenceOps.LogMeanExp(w);
            bce += ReferenceOps.BinaryCrossEntropy(x, y[i * k].Select(f => (double)f).ToArray());
        }
        return (bound / n, bce / n);
    }

    public static IEnumerable<object[]> Cases =>
        from choice in TestDevices.All.Select(a => (AcceleratorChoice)a[0])
        from c in new[] { (Images: 150, K: 7, Kl: KlKind.Seed), (Images: 2, K: 600, Kl: KlKind.Standard) }
        select new object[] { choice, c.Images, c.K, c.Kl };

    /// <summary>Groups of images whose pairs fill a chunk (k = 7), and one image split over two chunks (k = 600 > 500 rows).</summary>
    [SkippableTheory, MemberData(nameof(Cases))]
    public void TheBoundAndTheBceAgreeWithTheHostComputationFromTheSameNoise(AcceleratorChoice choice, int images, int k, KlKind kl)
    {
        var device = TestDevices.Get(choice);
        using var vae = new Vae.Gpu.Model.VAE(device, new VaeConfig(4, 6, 3, 3) { Kl = kl }, seed: 11);
        var test = SyntheticData.Make("test", images, 5);
        var (mu, sigma, dims) = Encode(vae, test);
        var e = Evaluator.Run(vae, test, mu, sigma, dims, new EvaluationOptions(k, Seed: 42));
        var (bound, bce) = HostBound(vae, test, mu, sigma, k, 42);
        // Per image: about 784 float32 log terms summed, a few hundred nats.
        Assert.True(Math.Abs(e.Iwae.Bound - bound) <= 2e-3, $"bound {e.Iwae.Bound} vs host {bound}");
        Assert.True(Math.Abs(e.Bce - bce) <= 2e-3, $"bce {e.Bce} vs host {bce}");
        Assert.Equal(k, e.Iwae.K);
        Assert.Equal(images, e.Iwae.Images);
        Assert.True(e.Iwae.Bound > e.Elbo - 5 * e.Iwae.StdErr, "the bound should not lie far below the ELBO");
    }

    [SkippableTheory]
    [InlineData(KlKind.Seed)]
    [InlineData(KlKind.Standard)]
    public void KlPerDimensionIsTheTrueKlToTheMatchingPriorAndTheLossIsTheTrainedTerm(KlKind kl)
    {
        var device = TestDevices.Get(AcceleratorChoice.Cpu);
        using var vae = new Vae.Gpu.Model.VAE(device, new VaeConfig(4, 6, 5, 3) { Kl = kl }, seed: 3);
        var test = SyntheticData.Make("test", 40, 8);
        var (mu, sigma, dims) = Encode(vae, test);
        var e = Evaluator.Run(vae, test, mu, sigma, dims, new EvaluationOptions(2));
        int lat = 5, n = 40;
        double v = kl == KlKind.Seed ? 0.5 : 1.0;
        for (int d = 0; d < lat; d++)
        {
            // KL(N(m, s^2) || N(0, v)) = (ln(v / s^2) + (s^2 + m^2) / v - 1) / 2.
            double expected = Enumerable.Range(0, n).Average(i =>
            {
                double m = mu[i * lat + d], s = sigma[i * lat + d];
                return 0.5 * (Math.Log(v / (s * s)) + (s * s + m * m) / v - 1);
            });
            Assert.Equal(expected, e.KlPerDim[d], 9);
        }
        double trained = ReferenceOps.Kl(mu.Select(f => (double)f).ToArray(), sigma.Select(f => (double)f).ToArray(), kl) / n;
        Assert.Equal(trained, e.Loss - e.Bce, 6);
        Assert.Equal(-(e.Bce + e.KlPerDim.Sum()), e.Elbo, 9);
        Assert.Equal(LatentStatistics.ColumnVariances(mu, n, lat).Count(x => x > 0.01), e.ActiveUnits);
    }

    [SkippableFact]
    public void OneSampleReproducesTheElboAndMoreSamplesTightenTheBound()
    {
        var device = TestDevices.Get(AcceleratorChoice.Cpu);
        using var dir = new TempDir();
        var data = (SyntheticData.Make("train", 96, 1), SyntheticData.Make("test", 200, 2));
        new Trainer(new TrainOptions { OutDir = dir.Path, Epochs = 1, BatchSize = 16, C1 = 4, C2 = 6, Latent = 4, Accelerator = AcceleratorChoice.Cpu },
            new PlainObserver(TextWriter.Null)).Run(default, device, data);
        using var vae = Checkpoint.Load(dir.Path).CreateModel(device);
        var (mu, sigma, dims) = Encode(vae, data.Item2);
        var one = Evaluator.Run(vae, data.Item2, mu, sigma, dims, new EvaluationOptions(1));
        var many = Evaluator.Run(vae, data.Item2, mu, sigma, dims, new EvaluationOptions(32));
        // k = 1: the same sample as the ELBO's BCE; only the KL is sampled instead of exact.
        Assert.True(Math.Abs(one.Iwae.Bound - one.Elbo) <= one.Iwae.StdErr, $"k = 1 gives {one.Iwae.Bound} ± {one.Iwae.StdErr}, the ELBO is {one.Elbo}");
        Assert.Equal(one.Bce, many.Bce, 9);
        Assert.True(many.Iwae.Bound > one.Iwae.Bound, $"k = 32 gives {many.Iwae.Bound}, k = 1 {one.Iwae.Bound}");
        Assert.True(many.Iwae.Bound < 0 && many.Elbo < 0);
    }

    [Fact]
    public void TheBceFloorIsTheBceOfAPerfectReconstruction()
    {
        var test = SyntheticData.Make("test", 30, 4);
        double expected = Enumerable.Range(0, 30).Average(i =>
        {
            var x = test.Images(i, 1).Select(f => (double)f).ToArray();
            return ReferenceOps.BinaryCrossEntropy(x, x);
        });
        // The log guard (1e-9) moves each of the 784 terms by about 2e-9.
        Assert.True(Math.Abs(expected - Evaluator.BceFloor(test, 30)) <= 784 * 4e-9, $"{Evaluator.BceFloor(test, 30)} vs {expected}");
        Assert.True(expected > 10, "the synthetic images have gray pixels, so the floor is well above 0");
    }

    [Fact]
    public void TheProbeReadsClassesFromSeparatedClustersAndNotFromShuffledLabels()
    {
        const int n = 400, lat = 3;
        var rng = new Random(6);
        var labels = Enumerable.Range(0, n).Select(i => (byte)(i % 10)).ToArray();
        var mu = new float[n * lat];
        for (int i = 0; i < n; i++)
            for (int d = 0; d < lat; d++) mu[i * lat + d] = (d == 0 ? 3f * labels[i] : 0f) + (float)(rng.NextDouble() - 0.5);
        var names = Vae.Gpu.Data.FashionMnist.ClassNames;
        var view = ClassProbe.Run(mu, n, lat, labels, new[] { 0, 1 }, 5, names);
        Assert.Equal(1.0, view.ProbeAccuracy);
        // The folds split every class, however the data are ordered.
        for (int c = 0; c < 10; c++) Assert.InRange(Enumerable.Range(0, n).Count(i => labels[i] == c && ClassProbe.Fold(i) == 0), 10, 30);
        for (int c = 0; c < 10; c++) Assert.Equal(3.0 * c, view.Centroids[c][0], 0);
        var shuffled = labels.OrderBy(_ => rng.Next()).ToArray();
        Assert.InRange(ClassProbe.Run(mu, n, lat, shuffled, new[] { 0, 1 }, 5, names).ProbeAccuracy, 0, 0.3);
    }
}
