using System.Text.Json;
using System.Text.Json.Nodes;
using Vae.Gpu.IO;
using Vae.Gpu.Kernels;
using Vae.Gpu.Model;

namespace Vae.Gpu.Analysis;

/// <summary><c>report.json</c>: the contract other tools read (field names fixed); non-finite numbers are written as null.</summary>
public static class ReportJson
{
    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static string Write(AnalysisReport r) => ToJson(r).ToJsonString(Indented);

    /// <summary><c>evaluation.json</c> and <c>evaluate --json</c>: <see cref="Evaluation"/> as text.</summary>
    public static string Write(ModelEvaluation e) => Evaluation(e).ToJsonString(Indented);

    static JsonNode? N(double v) => JsonNumbers.Finite(v) is { } x ? JsonValue.Create(x) : null;
    static JsonArray Numbers(IEnumerable<double> values) => new(values.Select(N).ToArray());

    public static JsonObject ToJson(AnalysisReport r) => new()
    {
        ["dims"] = new JsonArray(r.Dims.Select(d => (JsonNode)d).ToArray()),
        ["variances"] = Numbers(r.Variances),
        ["traversal_values"] = Numbers(r.TraversalValues),
        ["stats"] = new JsonObject
        {
            ["dims"] = new JsonArray(r.Stats.Select(s => (JsonNode)Stats(s)).ToArray()),
            ["central_mass_radius_1"] = N(r.CentralMass),
            ["central_mass_radius_1_if_standard_normal"] = N(r.CentralMassStandardNormal),
            ["kl"] = VaeConfig.KlName(r.Config.Kl),
            ["kl_optimal_sigma"] = r.Config.Kl == KlKind.Seed ? 1 / Math.Sqrt(2) : 1.0,
        },
        ["traversal"] = Traversal(r.Traversal),
        ["epochs_trained"] = r.Metrics?.Epochs.Count ?? 0,
        ["model"] = r.Config.Describe(),
        ["beta"] = r.Metrics?.Beta ?? 1,
        ["evaluation"] = Evaluation(r.Evaluation),
    };

    /// <summary>The evaluation, per image in nats: what <c>evaluate --json</c> prints and <c>report.json</c> holds under <c>evaluation</c>.</summary>
    public static JsonObject Evaluation(ModelEvaluation e) => new()
    {
        ["images"] = e.Images,
        ["kl_as_trained"] = VaeConfig.KlName(e.KlKind),
        ["prior"] = e.PriorName,
        ["loss"] = N(e.Loss),
        ["bce"] = N(e.Bce),
        ["kl"] = N(e.Kl),
        ["kl_per_dim"] = Numbers(e.KlPerDim),
        ["elbo"] = N(e.Elbo),
        ["bce_floor"] = N(e.BceFloor),
        ["bce_above_floor"] = N(e.BceAboveFloor),
        ["active_units"] = e.ActiveUnits,
        ["active_threshold"] = ModelEvaluation.ActiveThreshold,
        ["mu_variance_per_dim"] = Numbers(e.MuVariances),
        ["iwae"] = new JsonObject
        {
            ["k"] = e.Iwae.K, ["bound"] = N(e.Iwae.Bound), ["stderr"] = N(e.Iwae.StdErr), ["images"] = e.Iwae.Images,
            ["seed"] = e.Iwae.Seed, ["seconds"] = N(e.Iwae.Seconds), ["pairs_per_second"] = N(e.Iwae.PairsPerSecond),
        },
        ["classes"] = new JsonObject
        {
            ["probe_accuracy"] = N(e.Classes.ProbeAccuracy),
            ["probe"] = e.Classes.Probe,
            ["dims"] = new JsonArray(e.Classes.Dims.Select(d => (JsonNode)d).ToArray()),
            ["names"] = new JsonArray(e.Classes.Names.Select(n => (JsonNode)n).ToArray()),
            ["centroids"] = new JsonArray(e.Classes.Centroids.Select(c => (JsonNode)Numbers(c)).ToArray()),
        },
    };

    static JsonObject Stats(DimensionStats s) => new()
    {
        ["dim"] = s.Dimension, ["mean"] = N(s.Mean), ["std"] = N(s.Std), ["skewness"] = N(s.Skewness), ["excess_kurtosis"] = N(s.ExcessKurtosis),
        ["ks_statistic_vs_fitted_normal"] = N(s.KsStatistic), ["ks_p_value_vs_fitted_normal"] = N(s.KsPValue),
        ["ks_statistic_vs_standard_normal"] = N(s.KsStandardStatistic), ["ks_p_value_vs_standard_normal"] = N(s.KsStandardPValue),
        ["mean_sigma"] = N(s.MeanSigma),
    };

    static JsonObject Traversal(TraversalReport t) => new()
    {
        ["one_dim"] = new JsonObject
        {
            ["neighbour_distances"] = Numbers(t.OneDim.NeighbourDistances),
            ["distance_from_first_monotonic"] = t.OneDim.Monotonic,
            ["spearman_position_vs_distance"] = N(t.OneDim.Spearman),
        },
        ["grid_rows_monotonic_fraction"] = N(t.RowsMonotonicFraction),
        ["grid_columns_monotonic_fraction"] = N(t.ColumnsMonotonicFraction),
        ["grid_rows_mean_spearman"] = N(t.RowsMeanSpearman),
        ["grid_columns_mean_spearman"] = N(t.ColumnsMeanSpearman),
        ["grid_mean_neighbour_distance"] = N(t.MeanNeighbourDistance),
    };
}
