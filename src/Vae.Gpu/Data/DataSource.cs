using System.Globalization;
using Vae.Gpu.Devices;

namespace Vae.Gpu.Data;

/// <summary>A data set's train and test splits and how they were made.</summary>
/// <param name="Source">What was read, for logs and metrics.json (a path, or "Fashion-MNIST").</param>
/// <param name="Format">idx, fer2013-csv, npy or image-folder.</param>
/// <param name="OfficialSplit">True when the format's own split was used, false for a seeded hold-out.</param>
public sealed record DataSet(Split Train, Split Test, string Source, string Format, bool OfficialSplit)
{
    public int Channels => Train.Channels;
    public int Height => Train.Height;
    public int Width => Train.Width;
    public IReadOnlyList<string>? ClassNames => Train.ClassNames;
}

/// <summary>How to read the data: where, and how to hold out a test set where the format has no split.</summary>
/// <param name="Path">A file or folder (null: Fashion-MNIST, found or downloaded).</param>
/// <param name="TestFraction">The share of the images held out as the test set where the format has no official split.</param>
/// <param name="SplitSeed">The seed of that hold-out.</param>
/// <param name="LabelsPath">Labels of an .npy image array (optional).</param>
public sealed record DataOptions(string? Path = null, double TestFraction = DataOptions.DefaultTestFraction, int SplitSeed = 0, string? LabelsPath = null)
{
    public const double DefaultTestFraction = 0.1;

    public void Validate()
    {
        if (!(TestFraction > 0 && TestFraction < 1))
            throw new VaeException($"«TestFraction» {TestFraction.ToString(CultureInfo.InvariantCulture)} is out of range; use a number between 0 and 1 such as 0.1");
    }
}

/// <summary>
/// Reads a data set from any source vae-gpu takes: Fashion-MNIST (the default), a folder of IDX files (MNIST's
/// layout), FER2013's CSV, a NumPy .npy array of images, or a folder of PNG/JPEG images in class folders.
/// Images become bytes, planar per image; the format's own split is used where it has one, otherwise a
/// seeded hold-out.
/// </summary>
public static class DataSource
{
    public static DataSet Load(DataOptions o, Action<string>? log = null)
    {
        o.Validate();
        if (o.Path is null && EnvironmentSwitches.Text(EnvironmentSwitches.DataDir) is null)
        {
            var (train, test) = FashionMnist.Load(null, log);
            return new DataSet(train, test, "Fashion-MNIST", IdxFolder.Format, true);
        }
        string path = o.Path ?? EnvironmentSwitches.Text(EnvironmentSwitches.DataDir)!;
        string name = o.Path is null ? "$FASHION_MNIST_DIR" : "«DataDir»";
        if (o.LabelsPath is not null && !path.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
            throw new VaeException($"«Labels» applies to an .npy image array, but {name} {path} is not one; drop «Labels»");
        DataSet set;
        if (File.Exists(path))
        {
            string ext = System.IO.Path.GetExtension(path).ToLowerInvariant();
            set = ext switch
            {
                ".csv" => Fer2013Csv.Load(path, o),
                ".npy" => NpyImages.Load(path, o),
                _ => throw new VaeException($"{name} {path} is a file vae-gpu does not read; give a folder of IDX files or images, a FER2013 .csv, or an .npy array"),
            };
        }
        else if (Directory.Exists(path))
        {
            set = IdxFolder.Holds(path) ? IdxFolder.Load(path, name, o)
                : Fer2013Csv.Holds(path) ? Fer2013Csv.LoadFolder(path, o)
                : ImageFolder.Holds(path) ? ImageFolder.Load(path, o)
                : throw new VaeException(
                    $"{name} {path} holds no data vae-gpu reads: IDX files (train-images-idx3-ubyte[.gz] and its labels), fer2013.csv or train.csv, " +
                    "or class folders of PNG/JPEG images; point it at one of those");
        }
        else throw new VaeException($"{name} {path}: no such file or folder");
        if (set.Train.Count == 0 || set.Test.Count == 0)
            throw new VaeException($"{name} {path} leaves {set.Train.Count} training and {set.Test.Count} test images; both need at least one");
        log?.Invoke($"Data: {set.Source} ({set.Format}): {set.Train.Describe()} to train, {set.Test.Count:N0} to test, " +
            (set.OfficialSplit ? "the format's own split" : $"a seeded hold-out of {o.TestFraction.ToString(CultureInfo.InvariantCulture)}"));
        return set;
    }

    /// <summary>A seeded hold-out: a fixed share of the images, drawn by <paramref name="seed"/>, is the test set;
    /// both splits keep the file order.</summary>
    public static (Split Train, Split Test) HoldOut(Split all, double testFraction, int seed)
    {
        int testCount = Math.Clamp((int)Math.Round(all.Count * testFraction), all.Count > 1 ? 1 : 0, Math.Max(0, all.Count - 1));
        var order = Enumerable.Range(0, all.Count).ToArray();
        new Random(seed).Shuffle(order);
        var test = order[..testCount].Order().ToArray();
        var train = order[testCount..].Order().ToArray();
        return (all.Select("train", train), all.Select("test", test));
    }

    /// <summary>Refuses a labels file whose count is not the images'.</summary>
    internal static void CheckLabels(string path, int labels, int images)
    {
        if (labels != images)
            throw new VaeException($"{path} has {labels:N0} labels for {images:N0} images; give one label per image");
    }
}
