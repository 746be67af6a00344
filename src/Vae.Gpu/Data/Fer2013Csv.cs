using System.Globalization;
using Vae.Gpu.Devices;

namespace Vae.Gpu.Data;

/// <summary>
/// FER2013's CSV: a header naming <c>emotion</c>, <c>pixels</c> (space-separated gray values of a square image,
/// 48x48 in FER2013) and <c>Usage</c>. Usage Training is the training set; PublicTest and PrivateTest together
/// are the test set. Kaggle's other layout, a folder with train.csv and test.csv (test.csv may lack emotion),
/// is read as those two splits; a CSV without Usage is split by a seeded hold-out.
/// </summary>
public static class Fer2013Csv
{
    public const string Format = "fer2013-csv";

    /// <summary>FER2013's seven emotions, label 0 first.</summary>
    public static readonly IReadOnlyList<string> Emotions = new[] { "Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral" };

    public static bool Holds(string dir) =>
        File.Exists(Path.Combine(dir, "fer2013.csv")) || File.Exists(Path.Combine(dir, "train.csv"));

    public static DataSet LoadFolder(string dir, DataOptions o)
    {
        string single = Path.Combine(dir, "fer2013.csv");
        if (File.Exists(single)) return Load(single, o);
        string trainPath = Path.Combine(dir, "train.csv"), testPath = Path.Combine(dir, "test.csv");
        var train = Read(trainPath).All("train");
        if (!File.Exists(testPath))
        {
            var (tr, te) = DataSource.HoldOut(train, o.TestFraction, o.SplitSeed);
            return new DataSet(tr, te, Path.GetFullPath(trainPath), Format, false);
        }
        var test = Read(testPath).All("test");
        if ((test.Height, test.Width) != (train.Height, train.Width))
            throw new VaeException($"{testPath} holds {test.Height}x{test.Width} images but {trainPath} {train.Height}x{train.Width}; both need one size");
        return new DataSet(train, test, Path.GetFullPath(dir), Format, true);
    }

    public static DataSet Load(string path, DataOptions o)
    {
        var rows = Read(path);
        if (!rows.HasUsage)
        {
            var (tr, te) = DataSource.HoldOut(rows.All("all"), o.TestFraction, o.SplitSeed);
            return new DataSet(tr, te, Path.GetFullPath(path), Format, false);
        }
        var train = rows.Where("train", u => u == "Training");
        var test = rows.Where("test", u => u is "PublicTest" or "PrivateTest");
        if (train.Count == 0 || test.Count == 0)
            throw new VaeException($"{path} has {train.Count} Training and {test.Count} PublicTest/PrivateTest rows; FER2013's Usage column needs both");
        return new DataSet(train, test, Path.GetFullPath(path), Format, true);
    }

    sealed record Rows(int Side, List<byte[]> Pixels, List<byte> Labels, List<string> Usage, bool HasUsage)
    {
        public Split All(string name) => Make(name, Enumerable.Range(0, Pixels.Count));
        public Split Where(string name, Func<string, bool> usage) => Make(name, Enumerable.Range(0, Pixels.Count).Where(i => usage(Usage[i])));

        Split Make(string name, IEnumerable<int> rows)
        {
            var list = rows.ToList();
            int n = Side * Side;
            var pixels = new byte[(long)list.Count * n];
            for (int i = 0; i < list.Count; i++) Pixels[list[i]].CopyTo(pixels, (long)i * n);
            return new Split(name, list.Count, pixels, list.Select(i => Labels[i]).ToArray())
            {
                Height = Side, Width = Side, ClassNames = Emotions,
            };
        }
    }

    static Rows Read(string path)
    {
        if (!File.Exists(path)) throw new VaeException($"{path} not found");
        using var reader = new StreamReader(path);
        string header = reader.ReadLine() ?? throw new VaeException($"{path} is empty; a FER2013 CSV starts with the header emotion,pixels,Usage");
        var columns = header.Split(',').Select(c => c.Trim().Trim('"').ToLowerInvariant()).ToList();
        int emotion = columns.IndexOf("emotion"), pixelsAt = columns.IndexOf("pixels"), usage = columns.IndexOf("usage");
        if (pixelsAt < 0)
            throw new VaeException($"{path} has no 'pixels' column in its header ({header.Trim()}); a FER2013 CSV has emotion,pixels,Usage");
        var pixels = new List<byte[]>();
        var labels = new List<byte>();
        var usages = new List<string>();
        int side = 0, line = 1;
        string? text;
        while ((text = reader.ReadLine()) is not null)
        {
            line++;
            if (text.Length == 0) continue;
            var fields = text.Split(',');
            if (fields.Length != columns.Count)
                throw new VaeException($"{path} line {line} has {fields.Length} fields; the header has {columns.Count}");
            var values = fields[pixelsAt].Trim().Trim('"').Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (side == 0)
            {
                side = (int)Math.Round(Math.Sqrt(values.Length));
                if (side * side != values.Length || side == 0)
                    throw new VaeException($"{path} line {line} has {values.Length} pixels, not a square image (FER2013's have 48x48 = 2304)");
            }
            if (values.Length != side * side)
                throw new VaeException($"{path} line {line} has {values.Length} pixels; the rows before have {side * side} ({side}x{side}); fix or remove the row");
            var image = new byte[values.Length];
            for (int i = 0; i < values.Length; i++)
                image[i] = byte.TryParse(values[i], NumberStyles.None, CultureInfo.InvariantCulture, out byte v) ? v
                    : throw new VaeException($"{path} line {line}: pixel {i + 1} is '{values[i]}', not a whole number 0..255");
            pixels.Add(image);
            byte label = 0;
            if (emotion >= 0 && !(byte.TryParse(fields[emotion].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out label) && label < Emotions.Count))
                throw new VaeException($"{path} line {line}: emotion '{fields[emotion].Trim()}' is not one of FER2013's 0..6");
            labels.Add(label);
            usages.Add(usage >= 0 ? fields[usage].Trim().Trim('"') : "");
        }
        if (pixels.Count == 0) throw new VaeException($"{path} has a header but no images");
        return new Rows(side, pixels, labels, usages, usage >= 0);
    }
}
