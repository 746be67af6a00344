using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Vae.Gpu.Data;
using Vae.Gpu.Devices;
using Vae.Gpu.IO;
using Vae.Gpu.Kernels;
using Vae.Gpu.Model;
using Vae.Gpu.Plotting;
using Vae.Gpu.Tensors;
using Vae.Gpu.Training;

namespace Vae.Gpu.Analysis;

public sealed record AnalysisOptions(string RunDir, string OutDir, string? DataDir = null, AcceleratorChoice Accelerator = AcceleratorChoice.Auto);

/// <summary>Everything <c>report.json</c> holds, plus a short summary for the terminal.</summary>
public sealed record AnalysisReport(
    int[] Dims, double[] Variances, double[] TraversalValues, DimensionStats[] Stats,
    double CentralMass, double CentralMassStandardNormal, JsonObject Traversal, string Summary);

/// <summary>
/// The second half of the problem set: embed the test set with the trained encoder and Gaussian, keep the
/// two latent dimensions of highest variance, check their distribution, and decode traversals along them.
/// </summary>
public static class LatentAnalysis
{
    public const int Bins = 50, Steps = 7, EncodeBatch = 500;

    public static AnalysisReport Run(AnalysisOptions o, Action<string>? log = null, ComputeDevice? device = null, Split? testSplit = null)
    {
        var checkpoint = Checkpoint.Load(o.RunDir);
        var bad = checkpoint.Parameters.FirstOrDefault(p => p.Value.Any(v => !float.IsFinite(v)));
        if (bad.Key is not null)
            throw new VaeException($"the weights in {Checkpoint.ModelPath(o.RunDir)} hold NaN or infinite values ({bad.Key}); nothing to analyze: retrain, or analyze an earlier checkpoint");
        var test = testSplit ?? LoadTest(o.DataDir);
        Trainer.EnsureWritable(o.OutDir);
        using var writing = RunLock.Acquire(o.OutDir);
        var own = device is null ? ComputeDevice.Create(o.Accelerator) : null;
        var dev = device ?? own!;
        try
        {
            string origin = checkpoint.FromPyTorch ? "a PyTorch state_dict" : $"epoch {checkpoint.Epoch}";
            log?.Invoke($"Analyzing {Checkpoint.ModelPath(o.RunDir)} ({origin}; c1={checkpoint.Config.C1}, c2={checkpoint.Config.C2}, lat={checkpoint.Config.Latent}, k={checkpoint.Config.Kernel}) on {dev.Name}");
            using var vae = checkpoint.CreateModel(dev);
            // Every output is written into a staging folder and moved into place as a set, so a failure
            // part-way (a full disk) never leaves new figures beside an old report.
            AnalysisReport? report = null;
            RunJournal.CommitFolder(o.OutDir, staging => report = Analyze(vae, test, o with { OutDir = staging }, log, origin));
            return report!;
        }
        finally { own?.Dispose(); }
    }

    static Split LoadTest(string? dataDir)
    {
        var dir = FashionMnist.Find(dataDir) ?? throw new VaeException(
            "Fashion-MNIST not found; run 'vae-gpu train' once (it downloads it) or pass --data DIR, or install Debian's dataset-fashion-mnist");
        return FashionMnist.LoadSplit(dir, "t10k", 10_000);
    }

    static AnalysisReport Analyze(Vae.Gpu.Model.Vae vae, Split test, AnalysisOptions o, Action<string>? log, string origin)
    {
        int lat = vae.Config.Latent, n = test.Count;
        string Out(string name) => Path.Combine(o.OutDir, name);

        // 1. Feature selection: mu, sigma and Gaussian samples of every test image, in file order.
        log?.Invoke($"[1/4] encoding the {n:N0} test images");
        var (mu, sigma, embeddings) = Encode(vae, test);
        Npy.Write(Out("mu.npy"), mu, n, lat);
        Npy.Write(Out("sigma.npy"), sigma, n, lat);
        Npy.Write(Out("embeddings.npy"), embeddings, n, lat);
        var variances = LatentStatistics.ColumnVariances(embeddings, n, lat);
        var dims = LatentStatistics.TopTwo(variances);
        log?.Invoke($"Highest-variance latent dimensions: {dims[0]} (variance {variances[dims[0]]:F3}) and {dims[1]} (variance {variances[dims[1]]:F3})");

        // 2. Verify the normal distribution.
        log?.Invoke("[2/4] statistics and the 2-D histogram of the two dimensions");
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
        log?.Invoke("[3/4] decoding the 1x7 and 7x7 traversals");
        var v = LatentStatistics.TraversalValues(Steps);
        var oneDim = Decode(vae, Enumerable.Range(0, Steps).Select(j => Latent(lat, (dims[0], v[j]))).ToList());
        var grid = Decode(vae, Enumerable.Range(0, Steps * Steps).Select(i => Latent(lat, (dims[0], v[i % Steps]), (dims[1], v[i / Steps]))).ToList());
        Npy.Write(Out("traverse-1x7.npy"), oneDim.SelectMany(a => a).ToArray(), Steps, 28, 28);
        Npy.Write(Out("traverse-7x7.npy"), grid.SelectMany(a => a).ToArray(), Steps, Steps, 28, 28);
        Figures.ImageGrid(Out("traverse-1x7.png"), oneDim, 1, Steps, $"Decoded z with z[{dims[0]}] = norm.ppf(linspace(0.05, 0.95, 7)), others 0", v, $"z[{dims[0]}]");
        Figures.ImageGrid(Out("traverse-7x7.png"), grid, Steps, Steps, $"Decoded z over z[{dims[0]}] (columns) and z[{dims[1]}] (rows)", v, $"z[{dims[0]}]", v, $"z[{dims[1]}]");
        var traversal = TraversalConsistency(oneDim, grid);

        // 4. Reconstructions, samples from the prior, the loss curve.
        log?.Invoke("[4/4] reconstructions, prior samples, loss curve and report");
        var (originals, reconstructions) = Reconstruct(vae, test, 10);
        Npy.Write(Out("reconstructions.npy"), originals.Concat(reconstructions).SelectMany(a => a).ToArray(), 2, 10, 28, 28);
        Figures.ImageGrid(Out("reconstructions.png"), originals.Concat(reconstructions).ToList(), 2, 10, "Test images (top) and their reconstructions decoder(mu) (bottom)");
        var samples = Decode(vae, PriorSamples(lat, 64, seed: 7));
        Npy.Write(Out("samples.npy"), samples.SelectMany(a => a).ToArray(), 64, 28, 28);
        Figures.ImageGrid(Out("samples.png"), samples, 8, 8, "Decoded samples z ~ N(0, I)");
        var metrics = Metrics.TryLoad(o.RunDir);
        if (metrics is { Epochs.Count: > 0 })
            Figures.LossCurve(Out("loss.png"), metrics.Epochs.Select(e => (double)e.Epoch).ToArray(),
                metrics.Epochs.Select(e => e.TrainLoss).ToArray(), metrics.Epochs.Select(e => e.TestLoss).ToArray());

        var report = new AnalysisReport(dims, variances, v, stats, central, centralNormal, traversal, "");
        report = report with { Summary = Summary(report, vae.Config.Kl) };
        AtomicFile.WriteAllText(Out("report.json"), ReportJson(report, vae.Config, metrics).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        AtomicFile.WriteAllText(Out("report.md"), Markdown(report, vae.Config, metrics, origin));
        return report;
    }

    /// <summary>Encoder and Gaussian over the test set in file order, batch by batch; noise step = batch index.</summary>
    public static (float[] Mu, float[] Sigma, float[] Embeddings) Encode(Vae.Gpu.Model.Vae vae, Split test)
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
        return (mu, sigma, emb);
    }

    static float[] Latent(int lat, params (int Dim, double Value)[] set)
    {
        var z = new float[lat];
        foreach (var (d, val) in set) z[d] = (float)val;
        return z;
    }

    /// <summary>Decoder applied to each latent vector; returns one 28x28 image per vector.</summary>
    public static List<float[]> Decode(Vae.Gpu.Model.Vae vae, IReadOnlyList<float[]> latents)
    {
        int lat = vae.Config.Latent;
        using var z = Tensor.FromArray(vae.Device, latents.SelectMany(a => a).ToArray(), latents.Count, lat);
        var images = vae.Decoder.Forward(z).ToArray();
        return Enumerable.Range(0, latents.Count).Select(i => images.AsSpan(i * 784, 784).ToArray()).ToList();
    }

    /// <summary>
    /// The first test images and decoder(mu) of each: the deterministic reconstruction, so that any
    /// implementation of the model (PyTorch's, in examples/pytorch) gives the same images.
    /// </summary>
    static (List<float[]>, List<float[]>) Reconstruct(Vae.Gpu.Model.Vae vae, Split test, int count)
    {
        var originals = Enumerable.Range(0, count).Select(i => test.Pixels.AsSpan(i * 784, 784).ToArray().Select(p => p / 255f).ToArray()).ToList();
        using var x = Tensor.FromArray(vae.Device, originals.SelectMany(a => a).ToArray(), count, 1, 28, 28);
        var (mu, _) = vae.Encoder.Forward(x);
        var y = vae.Decoder.Forward(mu).ToArray();
        return (originals, Enumerable.Range(0, count).Select(i => y.AsSpan(i * 784, 784).ToArray()).ToList());
    }

    static List<float[]> PriorSamples(int lat, int count, int seed)
    {
        var normal = new MathNet.Numerics.Distributions.Normal(0, 1, new Random(seed));
        return Enumerable.Range(0, count).Select(_ => Enumerable.Range(0, lat).Select(_ => (float)normal.Sample()).ToArray()).ToList();
    }

    static JsonObject TraversalConsistency(List<float[]> oneDim, List<float[]> grid)
    {
        var line = LatentStatistics.Consistency(oneDim);
        var rows = Enumerable.Range(0, Steps).Select(r => LatentStatistics.Consistency(grid.Skip(r * Steps).Take(Steps).ToList())).ToList();
        var cols = Enumerable.Range(0, Steps).Select(c => LatentStatistics.Consistency(Enumerable.Range(0, Steps).Select(r => grid[r * Steps + c]).ToList())).ToList();
        return new JsonObject
        {
            ["one_dim"] = new JsonObject
            {
                ["neighbour_distances"] = new JsonArray(line.NeighbourDistances.Select(d => (JsonNode)d).ToArray()),
                ["distance_from_first_monotonic"] = line.Monotonic,
                ["spearman_position_vs_distance"] = line.Spearman,
            },
            ["grid_rows_monotonic_fraction"] = rows.Count(r => r.Monotonic) / (double)Steps,
            ["grid_columns_monotonic_fraction"] = cols.Count(c => c.Monotonic) / (double)Steps,
            ["grid_rows_mean_spearman"] = rows.Average(r => r.Spearman),
            ["grid_columns_mean_spearman"] = cols.Average(c => c.Spearman),
            ["grid_mean_neighbour_distance"] = rows.Concat(cols).SelectMany(r => r.NeighbourDistances).Average(),
        };
    }

    static JsonObject StatsJson(DimensionStats s) => new()
    {
        ["dim"] = s.Dimension, ["mean"] = s.Mean, ["std"] = s.Std, ["skewness"] = s.Skewness, ["excess_kurtosis"] = s.ExcessKurtosis,
        ["ks_statistic_vs_fitted_normal"] = s.KsStatistic, ["ks_p_value_vs_fitted_normal"] = s.KsPValue,
        ["ks_statistic_vs_standard_normal"] = s.KsStandardStatistic, ["ks_p_value_vs_standard_normal"] = s.KsStandardPValue,
        ["mean_sigma"] = s.MeanSigma,
    };

    static JsonObject ReportJson(AnalysisReport r, VaeConfig c, Metrics? metrics) => new()
    {
        ["dims"] = new JsonArray(r.Dims.Select(d => (JsonNode)d).ToArray()),
        ["variances"] = new JsonArray(r.Variances.Select(v => (JsonNode)v).ToArray()),
        ["traversal_values"] = new JsonArray(r.TraversalValues.Select(v => (JsonNode)v).ToArray()),
        ["stats"] = new JsonObject
        {
            ["dims"] = new JsonArray(r.Stats.Select(s => (JsonNode)StatsJson(s)).ToArray()),
            ["central_mass_radius_1"] = r.CentralMass,
            ["central_mass_radius_1_if_standard_normal"] = r.CentralMassStandardNormal,
            ["kl"] = VaeConfig.KlName(c.Kl),
            ["kl_optimal_sigma"] = c.Kl == KlKind.Seed ? 1 / Math.Sqrt(2) : 1.0,
        },
        ["traversal"] = r.Traversal.DeepClone(),
        ["epochs_trained"] = metrics?.Epochs.Count ?? 0,
    };

    static string F(double v) => v.ToString("0.000", CultureInfo.InvariantCulture);

    static string Summary(AnalysisReport r, KlKind kl)
    {
        var s = new StringBuilder();
        foreach (var d in r.Stats)
            s.AppendLine($"z[{d.Dimension}]: mean {F(d.Mean)}, std {F(d.Std)}, skewness {F(d.Skewness)}, excess kurtosis {F(d.ExcessKurtosis)}, KS vs fitted normal D={F(d.KsStatistic)} (p={d.KsPValue:G3})");
        s.Append($"mass within radius 1 of the origin: {F(r.CentralMass)} (N(0, I) puts {F(r.CentralMassStandardNormal)} there); ");
        s.Append($"1x7 traversal monotonic: {r.Traversal["one_dim"]!["distance_from_first_monotonic"]}");
        return s.ToString();
    }

    /// <summary>The report; it names no absolute path, so a run folder can be moved or shared as it is.</summary>
    static string Markdown(AnalysisReport r, VaeConfig c, Metrics? metrics, string origin)
    {
        var md = new StringBuilder();
        md.AppendLine("# Vae.Gpu latent analysis");
        md.AppendLine();
        md.AppendLine($"Model: c1={c.C1}, c2={c.C2}, lat={c.Latent}, k={c.Kernel}, KL={VaeConfig.KlName(c.Kl)}; `{Checkpoint.ModelFile}` ({origin}); {metrics?.Epochs.Count ?? 0} epoch(s) recorded.");
        if (metrics?.Config.GetValueOrDefault("max_batches") is { ValueKind: System.Text.Json.JsonValueKind.Number } cut)
            md.AppendLine($"Epochs were cut short by `--max-batches {cut}`: each trained on at most {cut} batches and its test loss used at most {cut} test batches of 500, so this is a quick run, not a full one.");
        if (metrics is { Epochs.Count: > 0 })
        {
            md.AppendLine();
            md.AppendLine("## Training");
            md.AppendLine();
            md.AppendLine("| epoch | train loss / image | test loss / image | images/s | seconds |");
            md.AppendLine("|---:|---:|---:|---:|---:|");
            foreach (var e in metrics.Epochs) md.AppendLine($"| {e.Epoch} | {e.TrainLoss:F2} | {e.TestLoss:F2} | {e.ImagesPerSecond:F1} | {e.Seconds:F0} |");
            md.AppendLine();
            md.AppendLine("![loss](loss.png)");
        }
        md.AppendLine();
        md.AppendLine("## Feature selection");
        md.AppendLine();
        md.AppendLine($"Embeddings (Gaussian(mu, sigma) of all 10,000 test images, `embeddings.npy`) have these variances per latent dimension; the two highest are **{r.Dims[0]}** and **{r.Dims[1]}**.");
        md.AppendLine();
        md.AppendLine("| dim | " + string.Join(" | ", Enumerable.Range(0, r.Variances.Length)) + " |");
        md.AppendLine("|---|" + string.Concat(Enumerable.Repeat("---:|", r.Variances.Length)));
        md.AppendLine("| variance | " + string.Join(" | ", r.Variances.Select(F)) + " |");
        md.AppendLine();
        md.AppendLine("## Is it centred on 0 and roughly normal?");
        md.AppendLine();
        md.AppendLine("![hist2d](hist2d.png)");
        md.AppendLine();
        md.AppendLine("| dim | mean | std | skewness | excess kurtosis | KS D vs fitted normal (p) | KS D vs N(0,1) (p) | mean sigma |");
        md.AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var s in r.Stats)
            md.AppendLine($"| {s.Dimension} | {F(s.Mean)} | {F(s.Std)} | {F(s.Skewness)} | {F(s.ExcessKurtosis)} | {F(s.KsStatistic)} ({s.KsPValue:G2}) | {F(s.KsStandardStatistic)} ({s.KsStandardPValue:G2}) | {F(s.MeanSigma)} |");
        md.AppendLine();
        md.AppendLine($"Mass of the 2-D histogram within radius 1 of the origin: {F(r.CentralMass)}; a standard normal puts {F(r.CentralMassStandardNormal)} there.");
        md.AppendLine();
        md.AppendLine("How to read it: a mean near 0 relative to the std says \"centred\"; skewness and excess kurtosis near 0 and a small KS D " +
            "say \"roughly normal\" (with 10,000 points the KS p-value rejects even small departures, so read D: below about 0.05 is close). " +
            (c.Kl == KlKind.Seed
                ? "The problem set's KL, mu^2 + sigma^2 - log sigma - 1/2, is minimised at mu = 0 and sigma = 1/sqrt(2) ≈ 0.707, so it pulls the embeddings toward N(0, 1/2) per dimension, not N(0, 1); the textbook KL (`--kl standard`) pulls toward sigma = 1."
                : "The textbook KL is minimised at mu = 0, sigma = 1: it pulls each dimension toward N(0, 1). The problem set's formula (`--kl seed`) would pull toward sigma = 1/sqrt(2)."));
        md.AppendLine();
        md.AppendLine("## Perturbing one dimension, then two");
        md.AppendLine();
        md.AppendLine($"Values: norm.ppf(linspace(0.05, 0.95, 7)) = [{string.Join(", ", r.TraversalValues.Select(F))}]; all other latent entries 0.");
        md.AppendLine();
        md.AppendLine("![traverse-1x7](traverse-1x7.png)");
        md.AppendLine();
        md.AppendLine("![traverse-7x7](traverse-7x7.png)");
        md.AppendLine();
        var one = r.Traversal["one_dim"]!;
        md.AppendLine($"1x7: distances between neighbours [{string.Join(", ", one["neighbour_distances"]!.AsArray().Select(d => F(d!.GetValue<double>())))}]; " +
            $"distance from the first image grows at every step: {one["distance_from_first_monotonic"]}; Spearman (position vs distance) {F(one["spearman_position_vs_distance"]!.GetValue<double>())}.");
        md.AppendLine($"7x7: rows monotonic {F(r.Traversal["grid_rows_monotonic_fraction"]!.GetValue<double>())}, columns monotonic {F(r.Traversal["grid_columns_monotonic_fraction"]!.GetValue<double>())} " +
            $"(fractions of the 7); mean Spearman rows {F(r.Traversal["grid_rows_mean_spearman"]!.GetValue<double>())}, columns {F(r.Traversal["grid_columns_mean_spearman"]!.GetValue<double>())}.");
        md.AppendLine();
        md.AppendLine("## Reconstructions and samples");
        md.AppendLine();
        md.AppendLine("![reconstructions](reconstructions.png)");
        md.AppendLine();
        md.AppendLine("![samples](samples.png)");
        md.AppendLine();
        md.AppendLine("Data for every figure: `mu.npy`, `sigma.npy`, `embeddings.npy`, `hist2d.npy`, `traverse-1x7.npy`, `traverse-7x7.npy`, `reconstructions.npy`, `samples.npy` (NumPy float32).");
        return md.ToString();
    }
}
