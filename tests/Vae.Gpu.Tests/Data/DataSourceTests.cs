using System.Buffers.Binary;
using System.Text;
using SkiaSharp;
using Vae.Gpu.Data;
using Vae.Gpu.Devices;

namespace Vae.Gpu.Tests.Data;

/// <summary>Every data source on real files written here: what is read, the split used, class names, and each
/// kind of bad input as one line naming the file (and line) and the fix.</summary>
public class DataSourceTests
{
    static byte[] Gray(int n, int seed) { var b = new byte[n]; new Random(seed).NextBytes(b); return b; }

    static DataSet Load(string path, double fraction = 0.1, int seed = 0, string? labels = null) =>
        DataSource.Load(new DataOptions(path, fraction, seed, labels));

    static string Fer(IEnumerable<(int Emotion, byte[] Pixels, string Usage)> rows, bool usage = true) =>
        (usage ? "emotion,pixels,Usage\n" : "emotion,pixels\n") +
        string.Concat(rows.Select(r => $"{r.Emotion},{string.Join(' ', r.Pixels)}" + (usage ? $",{r.Usage}" : "") + "\n"));

    [Fact]
    public void Fer2013CsvUsesItsUsageSplitAndEmotionNames()
    {
        using var dir = new TempDir();
        var rows = Enumerable.Range(0, 9).Select(i => (i % 7, Gray(48 * 48, i), i < 6 ? "Training" : i == 6 ? "PublicTest" : "PrivateTest")).ToList();
        File.WriteAllText(dir["fer2013.csv"], Fer(rows));
        var set = Load(dir["fer2013.csv"]);
        Assert.True(set.OfficialSplit);
        Assert.Equal((6, 3), (set.Train.Count, set.Test.Count));
        Assert.Equal((1, 48, 48), (set.Channels, set.Height, set.Width));
        Assert.Equal(rows[7].Item2, set.Test.Pixels[(48 * 48)..(2 * 48 * 48)]);
        Assert.Equal(new byte[] { 6, 0, 1 }, set.Test.Labels);
        Assert.Equal("Neutral", set.Test.ClassName(6));
        // The folder form finds fer2013.csv by name.
        Assert.Equal(set.Train.Pixels, Load(dir.Path).Train.Pixels);
    }

    [Fact]
    public void Fer2013TrainAndTestCsvsAreTheTwoSplitsAndACsvWithoutUsageIsHeldOut()
    {
        using var dir = new TempDir();
        var train = Enumerable.Range(0, 20).Select(i => (i % 7, Gray(16, i), "")).ToList();
        File.WriteAllText(dir["train.csv"], Fer(train, usage: false));
        File.WriteAllText(dir["test.csv"], "pixels\n" + string.Join(' ', Gray(16, 99)) + "\n");
        var set = Load(dir.Path);
        Assert.Equal((20, 1, 4), (set.Train.Count, set.Test.Count, set.Width));
        Assert.Equal(Gray(16, 99), set.Test.Pixels);
        File.Delete(dir["test.csv"]);
        var heldOut = Load(dir["train.csv"], fraction: 0.25, seed: 5);
        Assert.False(heldOut.OfficialSplit);
        Assert.Equal((15, 5), (heldOut.Train.Count, heldOut.Test.Count));
        // Seeded: the same seed holds out the same images, another seed others; together they are all of them.
        Assert.Equal(heldOut.Test.Pixels, Load(dir["train.csv"], 0.25, 5).Test.Pixels);
        Assert.NotEqual(heldOut.Test.Pixels, Load(dir["train.csv"], 0.25, 6).Test.Pixels);
        var all = heldOut.Train.Labels.Concat(heldOut.Test.Labels).Order();
        Assert.Equal(train.Select(r => (byte)r.Item1).Order(), all);
    }

    [Fact]
    public void ABadCsvRowIsNamedByItsLineNumber()
    {
        using var dir = new TempDir();
        var rows = Enumerable.Range(0, 4).Select(i => (0, Gray(i == 2 ? 15 : 16, i), "Training")).ToList();
        File.WriteAllText(dir["a.csv"], Fer(rows));
        var e = Assert.Throws<VaeException>(() => Load(dir["a.csv"]));
        Assert.Contains($"{dir["a.csv"]} line 4 has 15 pixels; the rows before have 16 (4x4)", e.Message);
        File.WriteAllText(dir["b.csv"], "emotion,pixels,Usage\n9,1 2 3 4,Training\n");
        Assert.Contains("line 2: emotion '9' is not one of FER2013's 0..6", Assert.Throws<VaeException>(() => Load(dir["b.csv"])).Message);
    }

    internal static void WriteNpy(string path, string descr, int[] shape, byte[] data)
    {
        string dict = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': ({string.Join(", ", shape)}{(shape.Length == 1 ? "," : "")}), }}";
        int total = (10 + dict.Length + 1 + 63) / 64 * 64;
        string header = dict.PadRight(total - 11) + "\n";
        using var f = File.Create(path);
        f.Write(new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, (byte)header.Length, 0 });
        f.Write(Encoding.ASCII.GetBytes(header));
        f.Write(data);
    }

    [Fact]
    public void NpyImagesAreReadAsUint8OrFloatGrayOrRgbWithLabels()
    {
        using var dir = new TempDir();
        // (N, H, W, 3) uint8: NHWC in the file, planar here.
        const int n = 10, h = 3, w = 2;
        var nhwc = Gray(n * h * w * 3, 1);
        WriteNpy(dir["rgb.npy"], "|u1", new[] { n, h, w, 3 }, nhwc);
        var labels = new byte[n * 8];
        for (int i = 0; i < n; i++) BinaryPrimitives.WriteInt64LittleEndian(labels.AsSpan(i * 8), i % 4);
        WriteNpy(dir["labels.npy"], "<i8", new[] { n }, labels);
        var set = Load(dir["rgb.npy"], 0.2, 3, dir["labels.npy"]);
        Assert.Equal((3, 3, 2, 8, 2), (set.Channels, set.Height, set.Width, set.Train.Count, set.Test.Count));
        var both = set.Train.Pixels.Chunk(18).Zip(set.Train.Labels).Concat(set.Test.Pixels.Chunk(18).Zip(set.Test.Labels)).ToList();
        for (int i = 0; i < n; i++)
        {
            // Image i, planar: channel c at (y, x) is nhwc[((i h + y) w + x) 3 + c].
            var planar = new byte[18];
            for (int c = 0; c < 3; c++) for (int p = 0; p < 6; p++) planar[c * 6 + p] = nhwc[(i * 6 + p) * 3 + c];
            Assert.Contains(both, b => b.First.SequenceEqual(planar) && b.Second == i % 4);
        }
        // (N, H, W) float32 in [0, 1] becomes bytes to 1/255.
        var floats = new byte[4 * 4 * 5];
        for (int i = 0; i < 20; i++) BinaryPrimitives.WriteSingleLittleEndian(floats.AsSpan(i * 4), i / 19f);
        WriteNpy(dir["f.npy"], "<f4", new[] { 4, 5, 1 }, floats);
        var f = Load(dir["f.npy"], 0.25);
        Assert.Equal(1, f.Channels);
        Assert.Contains((byte)255, f.Train.Pixels.Concat(f.Test.Pixels));
        Assert.Equal(Enumerable.Range(0, 20).Select(i => (byte)Math.Round(i / 19.0 * 255)).Order(), f.Train.Pixels.Concat(f.Test.Pixels).Order());
    }

    [Fact]
    public void BadNpyInputIsOneLine()
    {
        using var dir = new TempDir();
        WriteNpy(dir["i16.npy"], "<i2", new[] { 2, 2, 2 }, new byte[16]);
        Assert.Contains("holds '<i2' values; images need uint8", Assert.Throws<VaeException>(() => Load(dir["i16.npy"])).Message);
        WriteNpy(dir["flat.npy"], "|u1", new[] { 8 }, new byte[8]);
        Assert.Contains("has shape (8); images need (N, H, W) or (N, H, W, C)", Assert.Throws<VaeException>(() => Load(dir["flat.npy"])).Message);
        WriteNpy(dir["ok.npy"], "|u1", new[] { 4, 2, 2 }, new byte[16]);
        WriteNpy(dir["few.npy"], "|u1", new[] { 3 }, new byte[3]);
        Assert.Contains("has 3 labels for 4 images", Assert.Throws<VaeException>(() => Load(dir["ok.npy"], labels: dir["few.npy"])).Message);
        var big = new byte[4];
        BinaryPrimitives.WriteSingleLittleEndian(big, 2f);
        WriteNpy(dir["big.npy"], "<f4", new[] { 1, 1, 1 }, big);
        Assert.Contains("float images need values in [0, 1]", Assert.Throws<VaeException>(() => Load(dir["big.npy"])).Message);
    }

    /// <summary>Writes one PNG: gray when <paramref name="channels"/> is 1, else RGB, from planar bytes.</summary>
    internal static void WritePng(string path, int channels, int height, int width, byte[] planar)
    {
        var info = new SKImageInfo(width, height, channels == 1 ? SKColorType.Gray8 : SKColorType.Rgba8888, SKAlphaType.Opaque);
        using var bitmap = new SKBitmap(info);
        int plane = height * width;
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                int p = y * width + x;
                bitmap.SetPixel(x, y, channels == 1 ? new SKColor(planar[p], planar[p], planar[p]) : new SKColor(planar[p], planar[plane + p], planar[2 * plane + p]));
            }
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, data.ToArray());
    }

    [Theory, InlineData(1), InlineData(3)]
    public void AnImageFolderDecodesPngsExactlyInFileNameOrderWithClassNames(int channels)
    {
        using var dir = new TempDir();
        const int h = 5, w = 7;
        var images = Enumerable.Range(0, 12).Select(i => Gray(channels * h * w, i)).ToList();
        string[] classes = { "cat", "dog", "emu" };
        for (int i = 0; i < 12; i++)
            WritePng(Path.Combine(dir.Path, i < 9 ? "train" : "test", classes[i % 3], $"{i:D3}.png"), channels, h, w, images[i]);
        var set = Load(dir.Path);
        Assert.True(set.OfficialSplit);
        Assert.Equal((channels, h, w, 9, 3), (set.Channels, set.Height, set.Width, set.Train.Count, set.Test.Count));
        Assert.Equal(images.Take(9).SelectMany(b => b), set.Train.Pixels);
        Assert.Equal(images.Skip(9).SelectMany(b => b), set.Test.Pixels);
        Assert.Equal(Enumerable.Range(0, 9).Select(i => (byte)(i % 3)), set.Train.Labels);
        Assert.Equal(classes, set.ClassNames);
    }

    [Fact]
    public void BadImageFoldersAreOneLineNamingTheFile()
    {
        using var dir = new TempDir();
        WritePng(dir["a/x/1.png"], 1, 4, 4, new byte[16]);
        WritePng(dir["a/y/2.png"], 1, 4, 5, new byte[20]);
        var e = Assert.Throws<VaeException>(() => Load(dir["a"]));
        Assert.Contains($"{dir["a/y/2.png"]} is 1x4x5", e.Message);
        Assert.Contains("1x4x4", e.Message);

        WritePng(dir["b/x/1.png"], 1, 4, 4, new byte[16]);
        WritePng(dir["b/y/2.png"], 3, 4, 4, new byte[48]);
        Assert.Contains($"{dir["b/y/2.png"]} is 3x4x4", Assert.Throws<VaeException>(() => Load(dir["b"])).Message);

        WritePng(dir["c/x/1.png"], 1, 4, 4, new byte[16]);
        var png = File.ReadAllBytes(dir["c/x/1.png"]);
        File.WriteAllBytes(dir["c/x/2.png"], png[..(png.Length / 2)]);
        Assert.Contains($"image {dir["c/x/2.png"]} cannot be decoded", Assert.Throws<VaeException>(() => Load(dir["c"])).Message);

        WritePng(dir["d/x/1.png"], 1, 4, 4, new byte[16]);
        Directory.CreateDirectory(dir["d/empty"]);
        Assert.Contains($"class folder {dir["d/empty"]} holds no images", Assert.Throws<VaeException>(() => Load(dir["d"])).Message);

        Directory.CreateDirectory(dir["e"]);
        Assert.Contains("holds no data vae-gpu reads", Assert.Throws<VaeException>(() => Load(dir["e"])).Message);
    }

    [Fact]
    public void AnIdxFolderWithoutATestPairIsHeldOut()
    {
        using var dir = new TempDir();
        Idx.WriteImages(dir["emnist-letters-train-images-idx3-ubyte.gz"], 30, 6, 5, Gray(30 * 30, 2));
        Idx.WriteLabels(dir["emnist-letters-train-labels-idx1-ubyte.gz"], Enumerable.Range(0, 30).Select(i => (byte)(i % 26)).ToArray());
        var set = Load(dir.Path, 0.1, 4);
        Assert.False(set.OfficialSplit);
        Assert.Equal((27, 3, 6, 5), (set.Train.Count, set.Test.Count, set.Height, set.Width));
        Assert.Null(set.ClassNames);
        File.Delete(dir["emnist-letters-train-labels-idx1-ubyte.gz"]);
        Assert.Contains("has no labels file beside it", Assert.Throws<VaeException>(() => Load(dir.Path)).Message);
    }
}
