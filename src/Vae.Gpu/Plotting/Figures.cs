using ScottPlot;

namespace Vae.Gpu.Plotting;

/// <summary>The analysis figures, drawn with ScottPlot and saved as PNG.</summary>
public static class Figures
{
    /// <summary>A 2-D histogram as a heatmap with a colour bar; counts[yBin, xBin] with yBin 0 at the bottom.</summary>
    public static void Histogram2D(string path, double[,] counts, double xMin, double xMax, double yMin, double yMax, string xLabel, string yLabel, string title)
    {
        int bins = counts.GetLength(0);
        // ScottPlot draws row 0 at the top; flip so that y grows upward.
        var flipped = new double[bins, counts.GetLength(1)];
        for (int r = 0; r < bins; r++)
            for (int c = 0; c < counts.GetLength(1); c++) flipped[r, c] = counts[bins - 1 - r, c];
        var plot = new Plot();
        var map = plot.Add.Heatmap(flipped);
        map.Colormap = new ScottPlot.Colormaps.Viridis();
        map.Position = new CoordinateRect(xMin, xMax, yMin, yMax);
        var bar = plot.Add.ColorBar(map);
        bar.Label = "test images per bin";
        plot.Add.VerticalLine(0, 1, Colors.White.WithAlpha(0.6), LinePattern.Dashed);
        plot.Add.HorizontalLine(0, 1, Colors.White.WithAlpha(0.6), LinePattern.Dashed);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        plot.Title(title);
        plot.SavePng(path, 720, 600);
    }

    /// <summary>
    /// A grid of images (rows x cols, row-major; each planar C x H x W in [0, 1], gray or RGB), one cell per
    /// image with a one-pixel white gap, with tick labels for the values along each axis (null for none).
    /// </summary>
    public static void ImageGrid(string path, IReadOnlyList<float[]> images, int rows, int cols, string title,
        double[]? colValues = null, string? colLabel = null, double[]? rowValues = null, string? rowLabel = null,
        (int Channels, int Height, int Width)? shape = null)
    {
        var (channels, height, width) = shape ?? (1, 28, 28);
        int cellW = width + 1, cellH = height + 1, plane = height * width;
        int gridH = rows * cellH - 1, gridW = cols * cellW - 1;
        var rgb = new byte[gridH, gridW, 3];
        for (int r = 0; r < gridH; r++) for (int c = 0; c < gridW; c++) for (int ch = 0; ch < 3; ch++) rgb[r, c, ch] = 255;
        for (int i = 0; i < images.Count; i++)
        {
            int gr = i / cols, gc = i % cols;
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                    for (int ch = 0; ch < 3; ch++)
                    {
                        float v = images[i][(channels == 3 ? ch * plane : 0) + y * width + x];
                        rgb[gr * cellH + y, gc * cellW + x, ch] = (byte)Math.Round(Math.Clamp(v, 0f, 1f) * 255);
                    }
        }
        var plot = new Plot();
        var image = plot.Add.ImageRect(new ScottPlot.Image(rgb), new CoordinateRect(0, gridW, 0, gridH));
        image.AntiAlias = false;
        plot.Title(title);
        plot.Axes.SetLimits(0, gridW, 0, gridH);
        if (colValues is not null)
        {
            plot.Axes.Bottom.SetTicks(colValues.Select((_, i) => i * cellW + width / 2.0).ToArray(), colValues.Select(v => v.ToString("+0.00;-0.00")).ToArray());
            plot.XLabel(colLabel ?? "");
        }
        else plot.Axes.Bottom.SetTicks(Array.Empty<double>(), Array.Empty<string>());
        if (rowValues is not null)
        {
            // Row 0 is drawn at the top.
            plot.Axes.Left.SetTicks(rowValues.Select((_, i) => (rows - 1 - i) * cellH + height / 2.0).ToArray(), rowValues.Select(v => v.ToString("+0.00;-0.00")).ToArray());
            plot.YLabel(rowLabel ?? "");
        }
        else plot.Axes.Left.SetTicks(Array.Empty<double>(), Array.Empty<string>());
        int scale = Math.Max(2, Math.Min(900 / (cols * cellW), 900 / (rows * cellH)));
        plot.SavePng(path, cols * cellW * scale + 160, rows * cellH * scale + 140);
    }

    /// <summary>Points (x, y) coloured by class, with a legend of <paramref name="classNames"/> and each class's
    /// centroid as a large outlined marker of its colour.</summary>
    public static void ClassScatter(string path, double[] x, double[] y, byte[] labels, IReadOnlyList<string> classNames,
        double[][] centroids, string xLabel, string yLabel, string title)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        for (int c = 0; c < classNames.Count; c++)
        {
            // Weights that overflow leave non-finite means, which no axis can show.
            var members = Enumerable.Range(0, x.Length).Where(i => labels[i] == c && double.IsFinite(x[i]) && double.IsFinite(y[i])).ToArray();
            if (members.Length == 0) continue;
            var points = plot.Add.ScatterPoints(members.Select(i => x[i]).ToArray(), members.Select(i => y[i]).ToArray());
            points.Color = palette.GetColor(c).WithAlpha(0.45);
            points.MarkerSize = 3;
            // The legend's own, larger marker: the plot's 3-pixel dots are hard to match by colour.
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = classNames[c], MarkerStyle = new MarkerStyle(MarkerShape.FilledCircle, 9, palette.GetColor(c)) });
        }
        for (int c = 0; c < classNames.Count; c++)
        {
            if (!double.IsFinite(centroids[c][0]) || !double.IsFinite(centroids[c][1])) continue;
            var centre = plot.Add.Marker(centroids[c][0], centroids[c][1], MarkerShape.FilledDiamond, 16, palette.GetColor(c));
            var outline = plot.Add.Marker(centroids[c][0], centroids[c][1], MarkerShape.OpenDiamond, 16, Colors.Black);
            outline.LineWidth = 1.5f;
        }
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        plot.Title(title);
        plot.ShowLegend(Edge.Right);
        plot.SavePng(path, 900, 640);
    }

    /// <summary>Training and test loss per image against the epoch.</summary>
    public static void LossCurve(string path, double[] epochs, double[] train, double[] test)
    {
        var plot = new Plot();
        var a = plot.Add.Scatter(epochs, train);
        a.LegendText = "training loss per image";
        var b = plot.Add.Scatter(epochs, test);
        b.LegendText = "test loss per image";
        plot.XLabel("epoch");
        plot.YLabel("loss per image (BCE + KL)");
        plot.Title("Training curve");
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(1);
        plot.Axes.SetLimitsX(epochs.Min() - 0.25, epochs.Max() + 0.25);
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, 720, 480);
    }
}
