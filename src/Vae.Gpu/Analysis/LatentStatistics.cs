using MathNet.Numerics.Distributions;

namespace Vae.Gpu.Analysis;

/// <summary>Per-dimension statistics that let a reader check "centred on 0 and roughly normal" with numbers.</summary>
public sealed record DimensionStats(
    int Dimension, double Mean, double Std, double Skewness, double ExcessKurtosis,
    double KsStatistic, double KsPValue, double KsStandardStatistic, double KsStandardPValue, double MeanSigma);

/// <summary>Descriptive statistics and Kolmogorov-Smirnov tests, written out so tests can check them against independent values.</summary>
public static class LatentStatistics
{
    /// <summary>norm.ppf(linspace(0.05, 0.95, 7)): the problem set's traversal values.</summary>
    public static double[] TraversalValues(int count = 7) =>
        Enumerable.Range(0, count).Select(i => Normal.InvCDF(0, 1, 0.05 + 0.9 * i / (count - 1))).ToArray();

    /// <summary>Population variance of each column of a row-major (rows, cols) matrix (NumPy's var, ddof 0).</summary>
    public static double[] ColumnVariances(float[] data, int rows, int cols)
    {
        var result = new double[cols];
        for (int c = 0; c < cols; c++)
        {
            double mean = 0, m2 = 0;
            for (int r = 0; r < rows; r++)
            {
                // Welford: stable for 10,000 values of any offset.
                double x = data[r * cols + c], delta = x - mean;
                mean += delta / (r + 1);
                m2 += delta * (x - mean);
            }
            result[c] = m2 / rows;
        }
        return result;
    }

    /// <summary>Indices of the two largest values, largest first (ties: lower index first).</summary>
    public static int[] TopTwo(double[] values) =>
        values.Select((v, i) => (v, i)).OrderByDescending(t => t.v).ThenBy(t => t.i).Take(2).Select(t => t.i).ToArray();

    public static double[] Column(float[] data, int rows, int cols, int c) =>
        Enumerable.Range(0, rows).Select(r => (double)data[r * cols + c]).ToArray();

    public static DimensionStats Describe(int dimension, double[] x, double meanSigma)
    {
        int n = x.Length;
        double mean = x.Average();
        double m2 = x.Sum(v => (v - mean) * (v - mean)) / n;
        double m3 = x.Sum(v => Math.Pow(v - mean, 3)) / n;
        double m4 = x.Sum(v => Math.Pow(v - mean, 4)) / n;
        double std = Math.Sqrt(m2);
        double skew = m3 / Math.Pow(m2, 1.5);
        double kurt = m4 / (m2 * m2) - 3;
        double d = KsStatistic(x, v => Normal.CDF(mean, std, v));
        double d0 = KsStatistic(x, v => Normal.CDF(0, 1, v));
        return new DimensionStats(dimension, mean, std, skew, kurt, d, KsPValue(d, n), d0, KsPValue(d0, n), meanSigma);
    }

    /// <summary>sup |F_n(x) - F(x)| over the sample's empirical distribution function.</summary>
    public static double KsStatistic(double[] sample, Func<double, double> cdf)
    {
        var sorted = sample.OrderBy(v => v).ToArray();
        int n = sorted.Length;
        double d = 0;
        for (int i = 0; i < n; i++)
        {
            double f = cdf(sorted[i]);
            d = Math.Max(d, Math.Max((i + 1.0) / n - f, f - (double)i / n));
        }
        return d;
    }

    /// <summary>Asymptotic p-value of the one-sample KS test (Kolmogorov distribution, Stephens' small-n correction).</summary>
    public static double KsPValue(double d, int n)
    {
        double sqrtN = Math.Sqrt(n), lambda = (sqrtN + 0.12 + 0.11 / sqrtN) * d;
        if (lambda < 1e-3) return 1;
        double sum = 0;
        for (int k = 1; k <= 100; k++)
        {
            double term = 2 * Math.Pow(-1, k - 1) * Math.Exp(-2 * k * k * lambda * lambda);
            sum += term;
            if (Math.Abs(term) < 1e-12) break;
        }
        return Math.Clamp(sum, 0, 1);
    }

    /// <summary>The 2-D histogram (bins x bins) of two columns over their ranges: counts[yBin, xBin].</summary>
    public static (double[,] Counts, double XMin, double XMax, double YMin, double YMax) Histogram2D(double[] x, double[] y, int bins)
    {
        double xMin = x.Min(), xMax = x.Max(), yMin = y.Min(), yMax = y.Max();
        var counts = new double[bins, bins];
        for (int i = 0; i < x.Length; i++)
        {
            int bx = Math.Min(bins - 1, (int)((x[i] - xMin) / (xMax - xMin + 1e-300) * bins));
            int by = Math.Min(bins - 1, (int)((y[i] - yMin) / (yMax - yMin + 1e-300) * bins));
            counts[by, bx]++;
        }
        return (counts, xMin, xMax, yMin, yMax);
    }

    /// <summary>Fraction of points within radius r of the origin, and what N(0, I) in two dimensions puts there: 1 - exp(-r^2/2).</summary>
    public static (double Observed, double StandardNormal) CentralMass(double[] x, double[] y, double r = 1)
    {
        int inside = x.Where((v, i) => v * v + y[i] * y[i] <= r * r).Count();
        return ((double)inside / x.Length, 1 - Math.Exp(-r * r / 2));
    }

    /// <summary>
    /// Whether a sequence of images changes consistently: the L2 distance between neighbours, whether the
    /// distance from the first image grows at every step, and Spearman's rank correlation of that distance with position.
    /// </summary>
    public static (double[] NeighbourDistances, bool Monotonic, double Spearman) Consistency(IReadOnlyList<float[]> images)
    {
        double Dist(float[] a, float[] b) => Math.Sqrt(a.Select((v, i) => (double)(v - b[i]) * (v - b[i])).Sum());
        var neighbours = Enumerable.Range(1, images.Count - 1).Select(i => Dist(images[i - 1], images[i])).ToArray();
        var fromFirst = images.Select(im => Dist(images[0], im)).ToArray();
        bool monotonic = Enumerable.Range(1, fromFirst.Length - 1).All(i => fromFirst[i] > fromFirst[i - 1]);
        return (neighbours, monotonic, Spearman(Enumerable.Range(0, fromFirst.Length).Select(i => (double)i).ToArray(), fromFirst));
    }

    public static double Spearman(double[] a, double[] b)
    {
        double[] Ranks(double[] v)
        {
            var order = v.Select((x, i) => (x, i)).OrderBy(t => t.x).ToArray();
            var ranks = new double[v.Length];
            for (int i = 0; i < order.Length;)
            {
                int j = i;
                while (j + 1 < order.Length && order[j + 1].x == order[i].x) j++;
                for (int k = i; k <= j; k++) ranks[order[k].i] = (i + j) / 2.0;
                i = j + 1;
            }
            return ranks;
        }
        var ra = Ranks(a); var rb = Ranks(b);
        double ma = ra.Average(), mb = rb.Average();
        double cov = ra.Select((v, i) => (v - ma) * (rb[i] - mb)).Sum();
        double va = ra.Sum(v => (v - ma) * (v - ma)), vb = rb.Sum(v => (v - mb) * (v - mb));
        return va == 0 || vb == 0 ? 0 : cov / Math.Sqrt(va * vb);
    }
}
