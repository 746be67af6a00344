using System.Globalization;
using System.Text;
using Vae.Gpu.Model;
using Vae.Gpu.Training;

namespace Vae.Gpu.Analysis;

/// <summary>How consistently the decoded images change along the traversals.</summary>
/// <param name="OneDim">the 1x7 row: distances between neighbours, whether the distance from the first grows at every step, Spearman of position vs distance.</param>
public sealed record TraversalReport(
    (double[] NeighbourDistances, bool Monotonic, double Spearman) OneDim,
    double RowsMonotonicFraction, double ColumnsMonotonicFraction, double RowsMeanSpearman, double ColumnsMeanSpearman, double MeanNeighbourDistance);

/// <summary>What the analysis found: the data behind <c>report.json</c> (<see cref="ReportJson"/>) and <c>report.md</c> (<see cref="ReportMarkdown"/>).</summary>
/// <param name="Origin">where the weights came from ("epoch 3", "a PyTorch state_dict").</param>
/// <param name="Metrics">the run's metrics.json, when it has one.</param>
public sealed record AnalysisReport(
    VaeConfig Config, string Origin, Metrics? Metrics,
    int[] Dims, double[] Variances, double[] TraversalValues, DimensionStats[] Stats,
    double CentralMass, double CentralMassStandardNormal, TraversalReport Traversal, ModelEvaluation Evaluation)
{
    /// <summary>A few lines for the terminal.</summary>
    public string Summary
    {
        get
        {
            var s = new StringBuilder();
            foreach (var d in Stats)
                s.AppendLine($"z[{d.Dimension}]: mean {F(d.Mean)}, std {F(d.Std)}, skewness {F(d.Skewness)}, excess kurtosis {F(d.ExcessKurtosis)}, KS vs fitted normal D={F(d.KsStatistic)} (p={d.KsPValue:G3})");
            s.Append($"mass within radius 1 of the origin: {F(CentralMass)} (N(0, I) puts {F(CentralMassStandardNormal)} there); ");
            s.AppendLine($"1x7 traversal monotonic: {(Traversal.OneDim.Monotonic ? "true" : "false")}");
            s.Append(Evaluation.Summary);
            return s.ToString();
        }
    }

    internal static string F(double v) => v.ToString("0.000", CultureInfo.InvariantCulture);
}
