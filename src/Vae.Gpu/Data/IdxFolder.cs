using System.Security.Cryptography;
using Vae.Gpu.Devices;

namespace Vae.Gpu.Data;

/// <summary>
/// A folder of IDX files in MNIST's layout (MNIST, Fashion-MNIST, KMNIST, EMNIST and others; gzipped or not):
/// *train-images-idx3-ubyte with *train-labels-idx1-ubyte, and the test pair (t10k- or test-) as the official
/// split; without a test pair, a seeded hold-out of the training files.
/// </summary>
public static class IdxFolder
{
    public const string Format = "idx";

    /// <summary>The SHA-256 of Fashion-MNIST's decompressed test labels, which tells it from MNIST's files of the same names.</summary>
    const string FashionMnistTestLabels = "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9";

    static string? Find(string dir, string kind, params string[] splits)
    {
        foreach (var split in splits)
            foreach (var file in Directory.EnumerateFiles(dir).Order(StringComparer.Ordinal))
            {
                string n = Path.GetFileName(file);
                if (n.EndsWith(".gz", StringComparison.Ordinal)) n = n[..^3];
                if (n.EndsWith($"{split}-{kind}", StringComparison.Ordinal)) return file;
            }
        return null;
    }

    static string? TrainImages(string dir) => Find(dir, "images-idx3-ubyte", "train");
    static string? TestImages(string dir) => Find(dir, "images-idx3-ubyte", "t10k", "test");

    public static bool Holds(string dir) => TrainImages(dir) is not null || Find(dir, "labels-idx1-ubyte", "train", "t10k", "test") is not null;

    public static DataSet Load(string dir, string name, DataOptions o)
    {
        string trainImages = TrainImages(dir) ?? throw new VaeException($"{name} {dir} lacks train-images-idx3-ubyte[.gz]; add it beside the labels");
        var train = Read(trainImages, "train");
        string? testImages = TestImages(dir);
        if (testImages is null)
        {
            var (tr, te) = DataSource.HoldOut(train, o.TestFraction, o.SplitSeed);
            return new DataSet(tr, te, Path.GetFullPath(dir), Format, false);
        }
        var test = Read(testImages, "test");
        if ((test.Height, test.Width) != (train.Height, train.Width))
            throw new VaeException($"{testImages} holds {test.Height}x{test.Width} images but {trainImages} {train.Height}x{train.Width}; both splits need one size");
        if (IsFashionMnist(test)) (train, test) = (train with { ClassNames = FashionMnist.ClassNames }, test with { ClassNames = FashionMnist.ClassNames });
        return new DataSet(train, test, Path.GetFullPath(dir), Format, true);
    }

    static Split Read(string imagesPath, string split)
    {
        string labelsPath = LabelsOf(imagesPath);
        if (!File.Exists(labelsPath) && !File.Exists(labelsPath + ".gz") && !(labelsPath.EndsWith(".gz") && File.Exists(labelsPath[..^3])))
            throw new VaeException($"{imagesPath} has no labels file beside it ({Path.GetFileName(labelsPath)}[.gz]); add it");
        labelsPath = new[] { labelsPath, labelsPath + ".gz", labelsPath.EndsWith(".gz") ? labelsPath[..^3] : labelsPath }.First(File.Exists);
        var images = Idx.ReadImages(imagesPath);
        var labels = Idx.ReadLabels(labelsPath);
        if (images.Count != labels.Length)
            throw new VaeException($"{imagesPath} has {images.Count} images but {labelsPath} has {labels.Length} labels; the two files must agree");
        return new Split(split, images.Count, images.Pixels, labels) { Height = images.Rows, Width = images.Cols };
    }

    static string LabelsOf(string imagesPath) =>
        Path.Combine(Path.GetDirectoryName(imagesPath)!, Path.GetFileName(imagesPath).Replace("images-idx3-ubyte", "labels-idx1-ubyte", StringComparison.Ordinal));

    static bool IsFashionMnist(Split test) =>
        test.Count == 10_000 && Convert.ToHexStringLower(SHA256.HashData(test.Labels)) == FashionMnistTestLabels;
}
