using Vae.Gpu.Data;

namespace Vae.Gpu.Tests;

public static class SyntheticData
{
    /// <summary>A small split of random "images": a bright blob on a dark background, values on the 1/255 grid.</summary>
    public static Split Make(string name, int count, int seed)
    {
        var rng = new Random(seed);
        var pixels = new byte[count * 784];
        for (int i = 0; i < count; i++)
        {
            int cx = rng.Next(8, 20), cy = rng.Next(8, 20), r = rng.Next(3, 8);
            for (int y = 0; y < 28; y++)
                for (int x = 0; x < 28; x++)
                    pixels[i * 784 + y * 28 + x] = (byte)((x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r ? rng.Next(150, 256) : rng.Next(0, 20));
        }
        var labels = Enumerable.Range(0, count).Select(i => (byte)(i % 10)).ToArray();
        return new Split(name, count, pixels, labels);
    }

    public static string? RealDataDir => FashionMnist.Find(null);

    /// <summary>Skips a test that needs the real data set where it is not installed.</summary>
    public static void SkipWithoutRealData() =>
        Skip.If(RealDataDir is null, "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist); CI installs it");
}
