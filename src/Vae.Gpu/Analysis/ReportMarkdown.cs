using System.Text;
using Vae.Gpu.Kernels;
using Vae.Gpu.Model;
using Vae.Gpu.Training;

namespace Vae.Gpu.Analysis;

/// <summary><c>report.md</c>: every figure of the analysis with its numbers.</summary>
public static class ReportMarkdown
{
    static string F(double v) => AnalysisReport.F(v);

    /// <summary>The report; it names no absolute path, so a run folder can be moved or shared as it is.</summary>
    public static string Write(AnalysisReport r)
    {
        var (c, metrics, origin) = (r.Config, r.Metrics, r.Origin);
        var md = new StringBuilder();
        md.AppendLine("# Vae.Gpu latent analysis");
        md.AppendLine();
        md.AppendLine($"Model: {c.Describe()}, KL={VaeConfig.KlName(c.Kl)}{(metrics is { Beta: not 1 } ? $" weighted by beta={metrics.Beta}" : "")}; `{Checkpoint.ModelFile}` ({origin}); {metrics?.Epochs.Count ?? 0} epoch(s) recorded.");
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
        var one = r.Traversal.OneDim;
        md.AppendLine($"1x7: distances between neighbours [{string.Join(", ", one.NeighbourDistances.Select(F))}]; " +
            $"distance from the first image grows at every step: {(one.Monotonic ? "true" : "false")}; Spearman (position vs distance) {F(one.Spearman)}.");
        md.AppendLine($"7x7: rows monotonic {F(r.Traversal.RowsMonotonicFraction)}, columns monotonic {F(r.Traversal.ColumnsMonotonicFraction)} " +
            $"(fractions of the 7); mean Spearman rows {F(r.Traversal.RowsMeanSpearman)}, columns {F(r.Traversal.ColumnsMeanSpearman)}.");
        md.AppendLine();
        md.Append(Evaluation(r.Evaluation));
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

    /// <summary>The evaluation section (also <c>evaluate</c>'s <c>evaluation.md</c>): the terms of the loss, the
    /// likelihood bound, the latent dimensions in use and the class view.</summary>
    public static string Evaluation(ModelEvaluation e)
    {
        string G(double v) => v.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture);
        var md = new StringBuilder();
        md.AppendLine("## Evaluation: the numbers VAEs are compared by");
        md.AppendLine();
        md.AppendLine($"Over the first {e.Images:N0} test images, in nats per image (higher log-likelihood is better, lower loss is better):");
        md.AppendLine();
        md.AppendLine("| measure | value |");
        md.AppendLine("|---|---:|");
        md.AppendLine($"| loss as trained (BCE + the {VaeConfig.KlName(e.KlKind)} KL term; the test loss of `metrics.json`) | {G(e.Loss)} |");
        md.AppendLine($"| reconstruction: summed BCE, one sample of z per image | {G(e.Bce)} |");
        md.AppendLine($"| KL(q(z\\|x) \\|\\| p(z)) to the prior {e.PriorName} | {G(e.Kl)} |");
        md.AppendLine($"| **ELBO** = -(BCE + KL), a lower bound on log p(x) | **{G(e.Elbo)}** |");
        md.AppendLine($"| **IWAE bound**, k = {e.Iwae.K} samples per image (± standard error over images) | **{G(e.Iwae.Bound)} ± {G(e.Iwae.StdErr)}** |");
        md.AppendLine($"| BCE floor: the entropy of the gray-level targets, the lowest BCE possible | {G(e.BceFloor)} |");
        md.AppendLine($"| BCE above the floor | {G(e.BceAboveFloor)} |");
        md.AppendLine($"| active units (variance of mu over the images > {ModelEvaluation.ActiveThreshold}) | {e.ActiveUnits} of {e.KlPerDim.Length} |");
        md.AppendLine($"| class probe: {e.Classes.Neighbours}-NN accuracy of the class from mu (chance {e.Classes.Chance:P0} with {e.Classes.Names.Count} classes) | {e.Classes.ProbeAccuracy:P1} |");
        md.AppendLine();
        md.AppendLine("How to read it: the targets are gray levels, not 0/1, so no model's BCE goes below the floor; the distance above it " +
            "is what a better model could still win. " + (e.KlKind == KlKind.Seed
                ? "The problem set's KL term equals the true KL to N(0, I/2) plus (1/2) ln 2 per dimension, so the ELBO and the IWAE bound use that prior. "
                : "The textbook KL is the KL to N(0, I), the prior of the ELBO and the IWAE bound. ") +
            $"The IWAE bound (Burda et al. 2015) tightens as k grows (`--k`); k = 1 is the ELBO. It took {e.Iwae.Seconds:F0} s, {e.Iwae.PairsPerSecond:N0} images x samples per second.");
        md.AppendLine();
        md.AppendLine("KL per latent dimension, largest first, with the variance of mu (a dimension with little of either is unused):");
        md.AppendLine();
        var order = e.KlPerDim.Select((v, d) => d).OrderByDescending(d => e.KlPerDim[d]).ToArray();
        md.AppendLine("| dim | " + string.Join(" | ", order) + " |");
        md.AppendLine("|---|" + string.Concat(Enumerable.Repeat("---:|", order.Length)));
        md.AppendLine("| KL | " + string.Join(" | ", order.Select(d => G(e.KlPerDim[d]))) + " |");
        md.AppendLine("| var(mu) | " + string.Join(" | ", order.Select(d => F(e.MuVariances[d]))) + " |");
        md.AppendLine();
        md.AppendLine($"### Classes in the two plotted dimensions, z[{e.Classes.Dims[0]}] and z[{e.Classes.Dims[1]}]");
        md.AppendLine();
        md.AppendLine("![classes](classes.png)");
        md.AppendLine();
        md.AppendLine($"Each point is one test image's mu, coloured by its class; diamonds mark the class centroids. The probe: {e.Classes.Probe}.");
        return md.ToString();
    }
}
