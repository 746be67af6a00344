namespace Vae.Gpu.Data;

/// <summary>
/// One split of a data set in host memory: <see cref="Count"/> images of <see cref="Channels"/> x
/// <see cref="Height"/> x <see cref="Width"/> bytes each, planar (channel after channel, as NCHW tensors are),
/// and one label per image.
/// </summary>
public sealed record Split(string Name, int Count, byte[] Pixels, byte[] Labels)
{
    public int Channels { get; init; } = 1;
    public int Height { get; init; } = 28;
    public int Width { get; init; } = 28;
    /// <summary>Class names by label (null: the labels' numbers).</summary>
    public IReadOnlyList<string>? ClassNames { get; init; }

    public int PixelsPerImage => Channels * Height * Width;

    /// <summary>The name of class <paramref name="label"/>.</summary>
    public string ClassName(int label) => ClassNames is { } names && label < names.Count ? names[label] : label.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Images [first, first + count) as floats in [0, 1], image after image: a batch for
    /// <c>Tensor.FromArray(device, split.Images(first, count), count, C, H, W)</c>.</summary>
    public float[] Images(int first, int count)
    {
        if (first < 0 || count < 0 || (long)first + count > Count)
            throw new ArgumentOutOfRangeException(nameof(count), $"images {first}..{first + count} lie outside the {Count} of {Name}");
        var x = new float[count * PixelsPerImage];
        for (int i = 0; i < x.Length; i++) x[i] = Pixels[first * PixelsPerImage + i] / 255f;
        return x;
    }

    /// <summary>The first <paramref name="count"/> images.</summary>
    public Split First(int count) => this with { Count = count, Pixels = Pixels[..(count * PixelsPerImage)], Labels = Labels[..count] };

    /// <summary>The images at <paramref name="indices"/>, in that order.</summary>
    public Split Select(string name, IReadOnlyList<int> indices)
    {
        int n = PixelsPerImage;
        var pixels = new byte[(long)indices.Count * n];
        var labels = new byte[indices.Count];
        for (int i = 0; i < indices.Count; i++)
        {
            Array.Copy(Pixels, (long)indices[i] * n, pixels, (long)i * n, n);
            labels[i] = Labels[indices[i]];
        }
        return this with { Name = name, Count = indices.Count, Pixels = pixels, Labels = labels };
    }

    /// <summary>"60,000 images of 1x28x28" for logs.</summary>
    public string Describe() => $"{Count:N0} images of {Channels}x{Height}x{Width}";
}
