using System.Security.Cryptography;
using Vae.Gpu.Data;

namespace Vae.Gpu.Tests;

/// <summary>Temporary folders and the helpers that prove a folder was left exactly as it was.</summary>
public sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("vae-gpu-test-").FullName;
    public string this[string name] => System.IO.Path.Combine(Path, name);
    public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }

    /// <summary>Name -> SHA-256 of every file, to compare before and after a failing command. The lock file
    /// is left out: every writer leaves it behind, empty (see RunLock), and it holds no saved work.</summary>
    public static Dictionary<string, string> Snapshot(string dir) =>
        Directory.GetFiles(dir, "*", SearchOption.AllDirectories)
            .Where(f => System.IO.Path.GetFileName(f) != Vae.Gpu.Training.RunLock.FileName)
            .ToDictionary(f => System.IO.Path.GetRelativePath(dir, f), f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f))));
}

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
