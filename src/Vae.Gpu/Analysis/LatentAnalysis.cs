using Vae.Gpu.Data;
using Vae.Gpu.Devices;
using Vae.Gpu.Tuning;
using Vae.Gpu.IO;
using Vae.Gpu.Kernels;
using Vae.Gpu.Model;
using Vae.Gpu.Plotting;
using Vae.Gpu.Tensors;
using Vae.Gpu.Training;

namespace Vae.Gpu.Analysis;

public sealed record AnalysisOptions(string RunDir, string OutDir, string? DataDir = null, AcceleratorChoice Accelerator = AcceleratorChoice.Auto,
    EvaluationOptions? Evaluation = null);

/// <summary>
/// The second half of the problem set: embed the test set with the trained encoder and Gaussian, keep the
/// two latent dimensions of highest variance, check their distribution, and decode traversals along them;
/// then the evaluation (<see cref="Evaluator"/>).
/// </summary>
public static class LatentAnalysis
{
    public const int Bins = 50, Steps = 7, EncodeBatch = 500;

    public static AnalysisReport Run(AnalysisOptions o, Action<string>? log = null, ComputeDevice? device = null, Split? testSplit = null)
    {
        var evaluation = (o.Evaluation ?? new EvaluationOptions()).Validate();
        return WithModel("Analyzing", o.RunDir, o.OutDir, o.DataDir, o.Accelerator, log, device, testSplit, (vae, metrics, test, origin, staging) =>
            Analyze(vae, metrics, test, o with { OutDir = staging, Evaluation = evaluation }, log, origin));
    }

    /// <summary>
    /// The analysis's work in training images' worth, for the whole run's time estimate: encoding the test set
    /// (forward only) and the bound's decoder passes, one per image and sample (about a quarter of a training
    /// image each, on PoCL and on the CPU accelerator); the figures' few hundred decodes are left out.
    /// </summary>
    public static double CostInTrainingImages(int testImages, EvaluationOptions e) =>
        testImages * RunClock.ForwardShare + Math.Min(testImages, e.Images ?? int.MaxValue) * (double)e.Samples * PairShare;

    /// <summary>One (image, sample) pair of the bound against a training image (measured with <c>evaluate</c> and <c>bench</c>).</summary>
    public const double PairShare = 1.0 / 4;

    /// <summary><c>vae-gpu evaluate</c>: the evaluation alone, on the first <see cref="EvaluationOptions.Images"/>
    /// test images, written to <c>evaluation.json</c>, <c>evaluation.md</c> and <c>classes.png</c>.</summary>
    public static ModelEvaluation Evaluate(AnalysisOptions o, Action<string>? log = null, ComputeDevice? device = null, Split? testSplit = null)
    {
        var options = (o.Evaluation ?? new EvaluationOptions()).Validate();
        return WithModel("Evaluating", o.RunDir, o.OutDir, o.DataDir, o.Accelerator, log, device, testSplit, (vae, _, test, _, staging) =>
        {
            var subset = First(test, options.Images, "«Images»");
            log?.Invoke($"[1/2] encoding {subset.Count:N0} test images");
            var (mu, sigma, embeddings) = Encode(vae, subset);
            var dims = LatentStatistics.TopTwo(LatentStatistics.ColumnVariances(embeddings, subset.Count, vae.Config.Latent));
            log?.Invoke($"[2/2] the IWAE bound with k = {options.Samples}, the KL terms and the class probe");
            var e = Evaluator.Run(vae, subset, mu, sigma, dims, options, log);
            WriteEvaluation(staging, e, mu, subset, reports: true);
            return e;
        });
    }

    /// <summary>
    /// Loads a run's committed model (refusing non-finite weights) and the test set, opens the device, and runs
    /// <paramref name="work"/> with a staging folder whose files are moved into <paramref name="outDir"/> as a set,
    /// so a failure part-way (a full disk) never leaves new files beside old ones.
    /// </summary>
    static T WithModel<T>(string verb, string runDir, string outDir, string? dataDir, AcceleratorChoice accelerator, Action<string>? log,
        ComputeDevice? device, Split? testSplit, Func<Vae.Gpu.Model.VAE, Metrics?, Split, string, string, T> work)
    {
        // Model and metrics of one committed save, even while a writer saves into the run.
        var (checkpoint, metrics) = Checkpoint.ReadSave(runDir, forResume: false);
        checkpoint.RequireFiniteWeights(runDir, "; nothing to analyze: retrain, or analyze an earlier checkpoint");
        var test = testSplit ?? LoadTest(dataDir, metrics);
        var c = checkpoint.Config;
        if ((test.Channels, test.Height, test.Width) != (c.ImageChannels, c.Height, c.Width))
            throw new VaeException(
                $"the test images are {test.Channels}x{test.Height}x{test.Width} (channels x height x width) but the model in {runDir} takes {c.ImageChannels}x{c.Height}x{c.Width}; " +
                "pass the «DataDir» the run was trained on");
        bool created = !Directory.Exists(outDir);
        RunFolder.EnsureWritable(outDir);
        try { return Locked(); }
        catch
        {
            // A refusal leaves no folder of ours behind: one this command made and that holds only its lock goes.
            if (created) RemoveIfOnlyTheLock(outDir);
            throw;
        }

        T Locked()
        {
            using var writing = RunLock.Acquire(outDir);
            var own = device is null ? ComputeDevice.Create(accelerator) : null;
            var dev = device ?? own!;
            try
            {
                string origin = checkpoint.FromPyTorch ? "a PyTorch state_dict" : $"epoch {checkpoint.Epoch}";
                log?.Invoke($"{verb} {Checkpoint.ModelPath(runDir)} ({origin}; {checkpoint.Config.Describe()}) on {dev.Name}");
                Tuner.Apply(dev, checkpoint.Config, EncodeBatch, allowTuning: false, s => log?.Invoke(s));
                using var vae = checkpoint.CreateModel(dev);
                T result = default!;
                RunJournal.CommitFolder(outDir, staging => result = work(vae, metrics, test, origin, staging));
                return result;
            }
            finally { own?.Dispose(); }
        }
    }

    static void RemoveIfOnlyTheLock(string dir)
    {
        try
        {
            if (Directory.EnumerateFileSystemEntries(dir).All(e => Path.GetFileName(e) == RunLock.FileName))
                Directory.Delete(dir, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }   // the refusal's own line matters more
    }

    /// <summary>The first <paramref name="count"/> images (all when null); more than the split holds is refused,
    /// naming <paramref name="parameter"/> (its token), rather than cut short without a word.</summary>
    static Split First(Split split, int? count, string parameter)
    {
        if (count is int more && more > split.Count)
            throw new VaeException($"{parameter} {more} is more than the {split.Count:N0} test images; leave it out to evaluate all of them");
        return count is int n && n < split.Count
            ? split.First(n)
            : split;
    }

    /// <summary>classes.png and, for <c>evaluate</c> (<paramref name="reports"/>), evaluation.json and evaluation.md.</summary>
    static void WriteEvaluation(string dir, ModelEvaluation e, float[] mu, Split test, bool reports)
    {
        int lat = mu.Length / test.Count;
        var (d0, d1) = (e.Classes.Dims[0], e.Classes.Dims[1]);
        Figures.ClassScatter(Path.Combine(dir, "classes.png"), LatentStatistics.Column(mu, test.Count, lat, d0), LatentStatistics.Column(mu, test.Count, lat, d1),
            test.Labels, e.Classes.Names, e.Classes.Centroids, $"mu[{d0}]", $"mu[{d1}]", $"Test images' mu by class (probe accuracy {e.Classes.ProbeAccuracy:P1})");
        if (!reports) return;
        AtomicFile.WriteAllText(Path.Combine(dir, "evaluation.json"), ReportJson.Write(e));
        AtomicFile.WriteAllText(Path.Combine(dir, "evaluation.md"), "# Vae.Gpu evaluation" + Environment.NewLine + Environment.NewLine + ReportMarkdown.Evaluation(e));
    }

    /// <summary>The test split the run was trained with: from <paramref name="dataDir"/> or the data the run's
    /// metrics.json records, held out as it records; Fashion-MNIST's test set when neither names one.</summary>
    static Split LoadTest(string? dataDir, Metrics? metrics)
    {
        var data = metrics?.Data();
        string? path = dataDir ?? data?.Path;
        if (path is null && EnvironmentSwitches.Text(EnvironmentSwitches.DataDir) is null)
        {
            var dir = FashionMnist.Find(null) ?? throw new VaeException(
                "Fashion-MNIST not found; run 'vae-gpu train' once (it downloads it) or pass «DataDir» DIR, or install Debian's dataset-fashion-mnist");
            return FashionMnist.LoadSplit(dir, "t10k", 10_000);
        }
        // Other data than the run's keeps the run's hold-out, not its labels file.
        bool same = dataDir is null || (data?.Path is { } trained && Path.GetFullPath(dataDir) == Path.GetFullPath(trained));
        return DataSource.Load((data ?? new DataOptions()) with { Path = path, LabelsPath = same ? data?.LabelsPath : null }).Test;
    }

    static AnalysisReport Analyze(Vae.Gpu.Model.VAE vae, Metrics? metrics, Split test, AnalysisOptions o, Action<string>? log, string origin)
    {
        int lat = vae.Config.Latent, n = test.Count;
        string Out(string name) => Path.Combine(o.OutDir, name);
        First(test, o.Evaluation?.Images, "«EvaluationImages»");   // refused before the work, not after

        // 1. Feature selection: mu, sigma and Gaussian samples of every test image, in file order.
        log?.Invoke($"[1/5] encoding the {n:N0} test images");
        var (mu, sigma, embeddings) = Encode(vae, test);
        Npy.Write(Out("mu.npy"), mu, n, lat);
        Npy.Write(Out("sigma.npy"), sigma, n, lat);
        Npy.Write(Out("embeddings.npy"), embeddings, n, lat);
        var variances = LatentStatistics.ColumnVariances(embeddings, n, lat);
        var dims = LatentStatistics.TopTwo(variances);
        log?.Invoke($"Highest-variance latent dimensions: {dims[0]} (variance {variances[dims[0]]:F3}) and {dims[1]} (variance {variances[dims[1]]:F3})");

        // 2. Verify the normal distribution.
        log?.Invoke("[2/5] statistics and the 2-D histogram of the two dimensions");
        var x = LatentStatistics.Column(embeddings, n, lat, dims[0]);
        var y = LatentStatistics.Column(embeddings, n, lat, dims[1]);
        var stats = dims.Select((d, i) => LatentStatistics.Describe(d, i == 0 ? x : y, LatentStatistics.Column(sigma, n, lat, d).Average())).ToArray();
        var hist = LatentStatistics.Histogram2D(x, y, Bins);
        var flatHist = new float[Bins * Bins];
        for (int r = 0; r < Bins; r++) for (int c = 0; c < Bins; c++) flatHist[r * Bins + c] = (float)hist.Counts[r, c];
        Npy.Write(Out("hist2d.npy"), flatHist, Bins, Bins);
        Figures.Histogram2D(Out("hist2d.png"), hist.Counts, hist.XMin, hist.XMax, hist.YMin, hist.YMax,
            $"z[{dims[0]}]", $"z[{dims[1]}]", $"Test-set embeddings, 2-D histogram ({Bins} bins)");
        var (central, centralNormal) = LatentStatistics.CentralMass(x, y);

        // 3. Perturb along one dimension, then both.
        log?.Invoke("[3/5] decoding the 1x7 and 7x7 traversals");
        var v = LatentStatistics.TraversalValues(Steps);
        var oneDim = Decode(vae, Enumerable.Range(0, Steps).Select(j => Latent(lat, (dims[0], v[j]))).ToList());
        var grid = Decode(vae, Enumerable.Range(0, Steps * Steps).Select(i => Latent(lat, (dims[0], v[i % Steps]), (dims[1], v[i / Steps]))).ToList());
        var shape = (vae.Config.ImageChannels, vae.Config.Height, vae.Config.Width);
        Npy.Write(Out("traverse-1x7.npy"), oneDim.SelectMany(a => a).ToArray(), ImageAxes(vae.Config, Steps));
        Npy.Write(Out("traverse-7x7.npy"), grid.SelectMany(a => a).ToArray(), ImageAxes(vae.Config, Steps, Steps));
        Figures.ImageGrid(Out("traverse-1x7.png"), oneDim, 1, Steps, $"Decoded z with z[{dims[0]}] = norm.ppf(linspace(0.05, 0.95, 7)), others 0", v, $"z[{dims[0]}]", shape: shape);
        Figures.ImageGrid(Out("traverse-7x7.png"), grid, Steps, Steps, $"Decoded z over z[{dims[0]}] (columns) and z[{dims[1]}] (rows)", v, $"z[{dims[0]}]", v, $"z[{dims[1]}]", shape);
        var traversal = TraversalConsistency(oneDim, grid);

        // 4. Reconstructions, samples from the prior, the loss curve.
        log?.Invoke("[4/5] reconstructions, prior samples, loss curve and report");
        var (originals, reconstructions) = Reconstruct(vae, test, Math.Min(10, test.Count));
        Npy.Write(Out("reconstructions.npy"), originals.Concat(reconstructions).SelectMany(a => a).ToArray(), ImageAxes(vae.Config, 2, originals.Count));
        Figures.ImageGrid(Out("reconstructions.png"), originals.Concat(reconstructions).ToList(), 2, originals.Count, "Test images (top) and their reconstructions decoder(mu) (bottom)", shape: shape);
        var samples = Decode(vae, PriorSamples(lat, 64, seed: 7));
        Npy.Write(Out("samples.npy"), samples.SelectMany(a => a).ToArray(), ImageAxes(vae.Config, 64));
        Figures.ImageGrid(Out("samples.png"), samples, 8, 8, "Decoded samples z ~ N(0, I)", shape: shape);
        if (metrics is { Epochs.Count: > 0 })
            Figures.LossCurve(Out("loss.png"), metrics.Epochs.Select(e => (double)e.Epoch).ToArray(),
                metrics.Epochs.Select(e => e.TrainLoss).ToArray(), metrics.Epochs.Select(e => e.TestLoss).ToArray());

        // 5. The numbers VAEs are compared by.
        var eo = o.Evaluation ?? new EvaluationOptions();
        var subset = First(test, eo.Images, "«EvaluationImages»");
        log?.Invoke($"[5/5] evaluation of {subset.Count:N0} test images: the IWAE bound with k = {eo.Samples}, the KL terms and the class probe");
        int m = subset.Count * lat;
        var evaluation = Evaluator.Run(vae, subset, mu[..m], sigma[..m], dims, eo, log);
        WriteEvaluation(o.OutDir, evaluation, mu[..m], subset, reports: false);

        var report = new AnalysisReport(vae.Config, origin, metrics, dims, variances, v, stats, central, centralNormal, traversal, evaluation);
        AtomicFile.WriteAllText(Out("report.json"), ReportJson.Write(report));
        AtomicFile.WriteAllText(Out("report.md"), ReportMarkdown.Write(report));
        return report;
    }

    /// <summary>Encoder and Gaussian over the test set in file order, batch by batch; noise step = batch index.</summary>
    public static (float[] Mu, float[] Sigma, float[] Embeddings) Encode(Vae.Gpu.Model.VAE vae, Split test)
    {
        int lat = vae.Config.Latent;
        var mu = new float[test.Count * lat]; var sigma = new float[mu.Length]; var emb = new float[mu.Length];
        using var data = new DeviceDataset(vae.Device, test);
        for (int b = 0; b < data.BatchCount(EncodeBatch); b++)
        {
            var x = data.Batch(b, EncodeBatch);
            var (m, s) = vae.Encoder.Forward(x);
            var z = vae.Gaussian(m, s, (ulong)b);
            int at = b * EncodeBatch * lat;
            m.ToArray().CopyTo(mu, at);
            s.ToArray().CopyTo(sigma, at);
            z.ToArray().CopyTo(emb, at);
        }
        // Finite weights can still overflow (a huge log sigma): refuse before any figure or number is written.
        Finite.Require("mu", mu, lat);
        Finite.Require("sigma", sigma, lat);
        Finite.Require("the embedding (a sample of N(mu, sigma))", emb, lat);
        return (mu, sigma, emb);
    }

    static float[] Latent(int lat, params (int Dim, double Value)[] set)
    {
        var z = new float[lat];
        foreach (var (d, val) in set) z[d] = (float)val;
        return z;
    }

    /// <summary>Leading axes, then (H, W) for gray images or (C, H, W) for colour: the .npy files' shapes.</summary>
    static int[] ImageAxes(VaeConfig c, params int[] leading) =>
        leading.Concat(c.ImageChannels == 1 ? new[] { c.Height, c.Width } : new[] { c.ImageChannels, c.Height, c.Width }).ToArray();

    /// <summary>Decoder applied to each latent vector; returns one image (C x H x W, planar) per vector.</summary>
    public static List<float[]> Decode(Vae.Gpu.Model.VAE vae, IReadOnlyList<float[]> latents)
    {
        int lat = vae.Config.Latent, pixels = vae.Config.Pixels;
        using var z = Tensor.FromArray(vae.Device, latents.SelectMany(a => a).ToArray(), latents.Count, lat);
        var images = vae.Decoder.Forward(z).ToArray();
        return Enumerable.Range(0, latents.Count).Select(i => images.AsSpan(i * pixels, pixels).ToArray()).ToList();
    }

    /// <summary>
    /// The first test images and decoder(mu) of each: the deterministic reconstruction, so that any
    /// implementation of the model (PyTorch's, in examples/pytorch) gives the same images.
    /// </summary>
    static (List<float[]>, List<float[]>) Reconstruct(Vae.Gpu.Model.VAE vae, Split test, int count)
    {
        var c = vae.Config;
        int pixels = c.Pixels;
        var originals = Enumerable.Range(0, count).Select(i => test.Images(i, 1)).ToList();
        using var x = Tensor.FromArray(vae.Device, originals.SelectMany(a => a).ToArray(), count, c.ImageChannels, c.Height, c.Width);
        var (mu, _) = vae.Encoder.Forward(x);
        var y = vae.Decoder.Forward(mu).ToArray();
        return (originals, Enumerable.Range(0, count).Select(i => y.AsSpan(i * pixels, pixels).ToArray()).ToList());
    }

    static List<float[]> PriorSamples(int lat, int count, int seed)
    {
        var normal = new MathNet.Numerics.Distributions.Normal(0, 1, new Random(seed));
        return Enumerable.Range(0, count).Select(_ => Enumerable.Range(0, lat).Select(_ => (float)normal.Sample()).ToArray()).ToList();
    }

    static TraversalReport TraversalConsistency(List<float[]> oneDim, List<float[]> grid)
    {
        var rows = Enumerable.Range(0, Steps).Select(r => LatentStatistics.Consistency(grid.Skip(r * Steps).Take(Steps).ToList())).ToList();
        var cols = Enumerable.Range(0, Steps).Select(c => LatentStatistics.Consistency(Enumerable.Range(0, Steps).Select(r => grid[r * Steps + c]).ToList())).ToList();
        return new TraversalReport(
            LatentStatistics.Consistency(oneDim),
            rows.Count(r => r.Monotonic) / (double)Steps, cols.Count(c => c.Monotonic) / (double)Steps,
            rows.Average(r => r.Spearman), cols.Average(c => c.Spearman),
            rows.Concat(cols).SelectMany(r => r.NeighbourDistances).Average());
    }
}
