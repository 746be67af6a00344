using System.Buffers.Binary;
using MathNet.Numerics.Statistics;
using Vae.Gpu.Analysis;
using Vae.Gpu.Devices;
using Vae.Gpu.IO;
using Vae.Gpu.Training;

namespace Vae.Gpu.Tests.Analysis;

public class AnalysisTests
{
    [Fact]
    public void TraversalValuesAreNormPpfToNineDigits()
    {
        // scipy.stats.norm.ppf(numpy.linspace(0.05, 0.95, 7))
        double[] scipy = { -1.6448536269514729, -0.8416212335729143, -0.38532046640756773, 0.0, 0.38532046640756773, 0.8416212335729143, 1.6448536269514722 };
        var v = LatentStatistics.TraversalValues();
        for (int i = 0; i < 7; i++) Assert.Equal(scipy[i], v[i], 9);
    }

    [Fact]
    public void VarianceRankingAndMomentsMatchIndependentValues()
    {
        var rng = new Random(3);
        int rows = 2000, cols = 5;
        double[] scales = { 0.5, 2.0, 1.0, 3.0, 0.1 };
        var data = new float[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) data[r * cols + c] = (float)(scales[c] * (rng.NextDouble() - 0.5) + 10);
        var variances = LatentStatistics.ColumnVariances(data, rows, cols);
        for (int c = 0; c < cols; c++)
            Assert.Equal(Statistics.PopulationVariance(LatentStatistics.Column(data, rows, cols, c)), variances[c], 9);
        Assert.Equal(new[] { 3, 1 }, LatentStatistics.TopTwo(variances));

        // A known sample: 1, 2, 3, 4, 10.
        var s = LatentStatistics.Describe(0, new double[] { 1, 2, 3, 4, 10 }, 1);
        Assert.Equal(4.0, s.Mean, 12);
        Assert.Equal(Math.Sqrt(10), s.Std, 12);                      // population std
        Assert.Equal(1.1384199576606167, s.Skewness, 9);              // scipy.stats.skew
        // Deviations -3, -2, -1, 0, 6: m2 = 10, m3 = 36, m4 = 278.8 (scipy.stats.skew / kurtosis agree).
        Assert.Equal(278.8 / 100 - 3, s.ExcessKurtosis, 9);
    }

    [Fact]
    public void KolmogorovSmirnovMatchesHandValuesAndTheAsymptoticDistribution()
    {
        // Uniform CDF on [0, 1] for the sample {0.1, 0.4, 0.7}: D = max over i of (i/n - x_i, x_i - (i-1)/n) = 0.3.
        Assert.Equal(0.3, LatentStatistics.KsStatistic(new[] { 0.7, 0.1, 0.4 }, x => x), 12);
        // Kolmogorov's limiting distribution: P(K > 1) = 0.26999967167735456 (scipy.stats.kstwobign.sf(1)).
        int n = 100_000_000;
        Assert.Equal(0.26999967167735456, LatentStatistics.KsPValue(1 / Math.Sqrt(n), n), 4);
        Assert.Equal(1.0, LatentStatistics.KsPValue(0, 100));
        // A genuinely normal sample is not rejected; a uniform one of the same size is.
        var normal = new MathNet.Numerics.Distributions.Normal(0, 1, new Random(1));
        var sample = Enumerable.Range(0, 5000).Select(_ => normal.Sample()).ToArray();
        Assert.True(LatentStatistics.Describe(0, sample, 1).KsStandardPValue > 0.01);
        var uniform = Enumerable.Range(0, 5000).Select(i => (i + 0.5) / 5000 * 3.4 - 1.7).ToArray();
        Assert.True(LatentStatistics.Describe(0, uniform, 1).KsStandardPValue < 1e-6);
    }

    [Fact]
    public void ConsistencyMeasureSeesOrderAndDisorder()
    {
        var ramp = Enumerable.Range(0, 7).Select(i => Enumerable.Repeat(i / 6f, 784).ToArray()).ToList();
        var (neighbours, monotonic, spearman) = LatentStatistics.Consistency(ramp);
        Assert.True(monotonic);
        Assert.Equal(1.0, spearman, 9);
        Assert.All(neighbours, d => Assert.Equal(28.0 / 6, d, 5));
        var shuffled = new[] { 0, 5, 2, 6, 1, 3, 4 }.Select(i => ramp[i]).ToList();
        Assert.False(LatentStatistics.Consistency(shuffled).Monotonic);
    }

    [Fact]
    public void Histogram2DBinsXByColumnAndYByRowOverTheDataRange()
    {
        double[] x = { 0, 1, 1, 0.5 }, y = { 10, 10, 20, 15 };
        var h = LatentStatistics.Histogram2D(x, y, 2);
        Assert.Equal((0.0, 1.0, 10.0, 20.0), (h.XMin, h.XMax, h.YMin, h.YMax));
        Assert.Equal(1, h.Counts[0, 0]); // (0, 10): low y, low x
        Assert.Equal(1, h.Counts[0, 1]); // (1, 10): low y, high x
        Assert.Equal(2, h.Counts[1, 1]); // (1, 20) and (0.5, 15): high y, high x
        Assert.Equal(0, h.Counts[1, 0]);
        var (inside, normal) = LatentStatistics.CentralMass(new[] { 0.5, 2, 0 }, new[] { 0.5, 0, -1 });
        Assert.Equal(2.0 / 3, inside, 12);
        Assert.Equal(1 - Math.Exp(-0.5), normal, 12);
    }

    static (int Width, int Height) PngSize(string path)
    {
        var b = File.ReadAllBytes(path);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, b[..4]);
        return (BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(20)));
    }

    [SkippableFact]
    public void AnalyzeWritesEveryContractFileAndTheTraversalsAreTheDecoderOfTheDocumentedVectors()
    {
        var device = TestDevices.Get(AcceleratorChoice.Cpu);
        using var dir = new TempDir();
        var data = (SyntheticData.Make("train", 64, 1), SyntheticData.Make("test", 120, 2));
        var options = new TrainOptions { OutDir = dir.Path, Epochs = 2, BatchSize = 16, C1 = 4, C2 = 6, Latent = 5, MaxBatches = 4, Accelerator = AcceleratorChoice.Cpu };
        new Trainer(options, new PlainObserver(TextWriter.Null)).Run(default, device, data);
        string outDir = Path.Combine(dir.Path, "analysis");
        var report = LatentAnalysis.Run(new AnalysisOptions(dir.Path, outDir), null, device, data.Item2);

        foreach (var (file, shape) in new (string, int[])[]
        {
            ("mu.npy", new[] { 120, 5 }), ("sigma.npy", new[] { 120, 5 }), ("embeddings.npy", new[] { 120, 5 }),
            ("traverse-1x7.npy", new[] { 7, 28, 28 }), ("traverse-7x7.npy", new[] { 7, 7, 28, 28 }), ("hist2d.npy", new[] { 50, 50 }),
        })
            Assert.Equal(shape, Npy.Read(Path.Combine(outDir, file)).Shape);
        foreach (var png in new[] { "hist2d.png", "traverse-1x7.png", "traverse-7x7.png", "reconstructions.png", "samples.png", "loss.png", "classes.png" })
        {
            var (w, h) = PngSize(Path.Combine(outDir, png));
            Assert.InRange(w, 400, 2000);
            Assert.InRange(h, 150, 2000);
        }
        Assert.Equal(720, PngSize(Path.Combine(outDir, "hist2d.png")).Width);
        string md = File.ReadAllText(Path.Combine(outDir, "report.md"));
        Assert.Contains("![traverse-7x7](traverse-7x7.png)", md);
        Assert.Contains("![classes](classes.png)", md);
        Assert.Contains("IWAE bound", md);
        var evaluation = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "report.json")))!["evaluation"]!;
        Assert.Equal(120, (int)evaluation["images"]!);
        Assert.Equal(ModelEvaluation.DefaultSamples, (int)evaluation["iwae"]!["k"]!);
        Assert.Equal(report.Evaluation.Elbo, (double)evaluation["elbo"]!, 9);
        Assert.Contains("Epochs were cut short by `--max-batches 4`", md);
        Assert.DoesNotContain(dir.Path, md); // a report names no absolute path
        Assert.Contains("`model.safetensors` (epoch 2)", md);

        // Feature selection agrees with the embeddings on disk.
        var (emb, _) = Npy.Read(Path.Combine(outDir, "embeddings.npy"));
        Assert.Equal(LatentStatistics.TopTwo(LatentStatistics.ColumnVariances(emb, 120, 5)), report.Dims);
        var sigma = Npy.Read(Path.Combine(outDir, "sigma.npy")).Data;
        Assert.All(sigma, s => Assert.True(s > 0));

        // Traversals: decoder of z with z[i1] = v[c], z[i2] = v[r], other entries 0.
        using var vae = Checkpoint.Load(dir.Path).CreateModel(device);
        var v = LatentStatistics.TraversalValues();
        var grid = Npy.Read(Path.Combine(outDir, "traverse-7x7.npy")).Data;
        var line = Npy.Read(Path.Combine(outDir, "traverse-1x7.npy")).Data;
        foreach (var (r, c) in new[] { (0, 0), (2, 5), (6, 6), (3, 1) })
        {
            var z = new float[5];
            z[report.Dims[0]] = (float)v[c];
            z[report.Dims[1]] = (float)v[r];
            var expected = LatentAnalysis.Decode(vae, new[] { z })[0];
            Assert.Equal(expected, grid.AsSpan((r * 7 + c) * 784, 784).ToArray());
            var z1 = new float[5];
            z1[report.Dims[0]] = (float)v[c];
            Assert.Equal(LatentAnalysis.Decode(vae, new[] { z1 })[0], line.AsSpan(c * 784, 784).ToArray());
        }
    }
}
