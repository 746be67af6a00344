namespace Vae.Gpu.Analysis;

/// <summary>
/// How well the class can be read from mu: a k-nearest-neighbour vote (Euclidean, all latent dimensions) over two
/// folds of the images (a fixed multiplicative hash of the position, so no ordering of the data lines up with
/// them), each predicted from the other; no training data needed, and
/// nothing random, so the accuracy is the same on every run and accelerator up to mu's rounding.
/// </summary>
public static class ClassProbe
{
    /// <summary>The split's class names, or the labels' numbers up to the largest label.</summary>
    public static IReadOnlyList<string> NamesOf(Data.Split split) =>
        split.ClassNames ?? Enumerable.Range(0, split.Count == 0 ? 1 : split.Labels.Max() + 1).Select(split.ClassName).ToArray();

    public static ClassView Run(float[] mu, int n, int lat, byte[] labels, int[] dims, int neighbours, IReadOnlyList<string> names)
    {
        int classes = Math.Max(names.Count, n == 0 ? 1 : labels[..n].Max() + 1);
        var fold = Enumerable.Range(0, n).Select(Fold).ToArray();
        var predicted = new int[n];
        Parallel.For(0, n, i =>
        {
            // The nearest `neighbours` of the other fold, kept sorted by distance (ties: lower index first).
            var bestD = new double[neighbours];
            var bestL = new int[neighbours];
            int found = 0;
            for (int j = 0; j < n; j++)
            {
                if (fold[j] == fold[i]) continue;
                double d2 = 0;
                for (int d = 0; d < lat; d++)
                {
                    double diff = mu[i * lat + d] - mu[j * lat + d];
                    d2 += diff * diff;
                }
                if (found == neighbours && d2 >= bestD[neighbours - 1]) continue;
                int at = found < neighbours ? found++ : neighbours - 1;
                while (at > 0 && bestD[at - 1] > d2) { bestD[at] = bestD[at - 1]; bestL[at] = bestL[at - 1]; at--; }
                bestD[at] = d2; bestL[at] = labels[j];
            }
            predicted[i] = Vote(bestL, found, classes);
        });
        double accuracy = n < 2 ? double.NaN : Enumerable.Range(0, n).Count(i => predicted[i] == labels[i]) / (double)n;
        var centroids = Enumerable.Range(0, names.Count).Select(c =>
        {
            var members = Enumerable.Range(0, n).Where(i => labels[i] == c).ToList();
            return dims.Select(d => members.Count == 0 ? double.NaN : members.Average(i => (double)mu[i * lat + d])).ToArray();
        }).ToArray();
        return new ClassView(accuracy, neighbours, dims, centroids, names);
    }

    /// <summary>Knuth's multiplicative hash of the position, top bit: 0 or 1.</summary>
    public static int Fold(int position) => (int)(unchecked((uint)position * 2654435761u) >> 31);

    /// <summary>The most frequent label among the first <paramref name="count"/>; a tie goes to the class of the nearer neighbour.</summary>
    static int Vote(int[] nearestFirst, int count, int classes)
    {
        var votes = new int[classes];
        for (int i = 0; i < count; i++) votes[nearestFirst[i]]++;
        int best = count > 0 ? nearestFirst[0] : 0;
        for (int i = 0; i < count; i++)
            if (votes[nearestFirst[i]] > votes[best]) best = nearestFirst[i];
        return best;
    }
}
