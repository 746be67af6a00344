using SkiaSharp;
using Vae.Gpu.Devices;

namespace Vae.Gpu.Data;

/// <summary>
/// A folder of images (PNG, JPEG, BMP, GIF, WebP) in class folders, decoded with SkiaSharp: ROOT/CLASS/*.png, or
/// ROOT/train/CLASS and ROOT/test/CLASS for an official split (otherwise a seeded hold-out). Labels follow the
/// class folders' names in ordinal order. Images are ordered by file name across the class folders (ties by
/// class), so files named by their index keep their data set's order. Gray images give 1 channel, colour 3
/// (alpha is dropped); every image must have the first one's size and channels.
/// </summary>
public static class ImageFolder
{
    public const string Format = "image-folder";
    static readonly string[] Extensions = { ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp" };

    static bool IsImage(string file) => Extensions.Contains(Path.GetExtension(file).ToLowerInvariant());

    static bool IsSplitRoot(string dir) => Directory.Exists(Path.Combine(dir, "train")) && Directory.Exists(Path.Combine(dir, "test"));

    public static bool Holds(string dir) =>
        IsSplitRoot(dir) || Directory.EnumerateDirectories(dir).Any(d => Directory.EnumerateFiles(d).Any(IsImage));

    public static DataSet Load(string dir, DataOptions o)
    {
        if (IsSplitRoot(dir))
        {
            var classes = ClassFolders(Path.Combine(dir, "train"));
            var testClasses = ClassFolders(Path.Combine(dir, "test"));
            var unknown = testClasses.Except(classes).FirstOrDefault();
            if (unknown is not null)
                throw new VaeException($"{Path.Combine(dir, "test", unknown)} is a class the training folder {Path.Combine(dir, "train")} lacks; give both splits the same class folders");
            var train = Read(Path.Combine(dir, "train"), classes, "train", null);
            var test = Read(Path.Combine(dir, "test"), classes, "test", train);
            return new DataSet(train, test, Path.GetFullPath(dir), Format, true);
        }
        var all = Read(dir, ClassFolders(dir), "all", null);
        var (tr, te) = DataSource.HoldOut(all, o.TestFraction, o.SplitSeed);
        return new DataSet(tr, te, Path.GetFullPath(dir), Format, false);
    }

    static List<string> ClassFolders(string root)
    {
        var classes = Directory.EnumerateDirectories(root).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        if (classes.Count == 0) throw new VaeException($"{root} has no class folders; put the images in one folder per class (one folder is fine)");
        if (classes.Count > 256) throw new VaeException($"{root} has {classes.Count} class folders; vae-gpu takes at most 256 classes");
        foreach (var c in classes)
            if (!Directory.EnumerateFiles(Path.Combine(root, c!)).Any(IsImage))
                throw new VaeException($"class folder {Path.Combine(root, c!)} holds no images ({string.Join(", ", Extensions)}); add some or remove it");
        return classes!;
    }

    static Split Read(string root, List<string> classes, string name, Split? like)
    {
        var files = classes.SelectMany((c, label) => Directory.EnumerateFiles(Path.Combine(root, c)).Where(IsImage).Select(f => (File: f, Label: label)))
            .OrderBy(f => Path.GetFileName(f.File), StringComparer.Ordinal).ThenBy(f => f.Label).ToList();
        // The first image fixes the size and channels (the training set's, for the test set).
        var (c0, h0, w0) = like is null ? Decode(files[0].File).Shape : (like.Channels, like.Height, like.Width);
        int n = c0 * h0 * w0;
        var pixels = new byte[(long)files.Count * n];
        var labels = new byte[files.Count];
        // Decoded in parallel; the first bad file in the order is the one named.
        var problems = new VaeException?[files.Count];
        Parallel.For(0, files.Count, i =>
        {
            try
            {
                var (shape, planar) = Decode(files[i].File);
                if (shape != (c0, h0, w0))
                    throw new VaeException(
                        $"image {files[i].File} is {shape.C}x{shape.H}x{shape.W} (channels x height x width) but {(like is null ? files[0].File : "the training images")} " +
                        $"{c0}x{h0}x{w0}; every image needs one size and channel count");
                planar.CopyTo(pixels, (long)i * n);
                labels[i] = (byte)files[i].Label;
            }
            catch (VaeException e) { problems[i] = e; }
        });
        if (problems.FirstOrDefault(p => p is not null) is { } first) throw first;
        return new Split(name, files.Count, pixels, labels) { Channels = c0, Height = h0, Width = w0, ClassNames = classes };
    }

    /// <summary>One image as planar bytes: gray (1 channel) when its codec says gray, otherwise RGB (3).</summary>
    public static ((int C, int H, int W) Shape, byte[] Planar) Decode(string file)
    {
        using var codec = SKCodec.Create(file) ?? throw new VaeException($"image {file} cannot be decoded (corrupt or not an image); fix or remove it");
        bool gray = codec.Info.ColorType == SKColorType.Gray8;
        var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, gray ? SKColorType.Gray8 : SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var bitmap = new SKBitmap(info);
        var result = codec.GetPixels(info, bitmap.GetPixels());
        if (result != SKCodecResult.Success)
            throw new VaeException($"image {file} cannot be decoded ({result}); fix or remove it");
        int h = info.Height, w = info.Width, plane = h * w;
        var bytes = bitmap.Bytes;
        if (gray)
        {
            var planar = new byte[plane];
            for (int y = 0; y < h; y++) Array.Copy(bytes, y * bitmap.RowBytes, planar, y * w, w);
            return ((1, h, w), planar);
        }
        var rgb = new byte[3 * plane];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int at = y * bitmap.RowBytes + 4 * x, p = y * w + x;
                rgb[p] = bytes[at]; rgb[plane + p] = bytes[at + 1]; rgb[2 * plane + p] = bytes[at + 2];
            }
        return ((3, h, w), rgb);
    }
}
