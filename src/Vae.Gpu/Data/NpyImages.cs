using System.Buffers.Binary;
using Vae.Gpu.Devices;
using Vae.Gpu.IO;

namespace Vae.Gpu.Data;

/// <summary>
/// Images in a NumPy .npy array: (N, H, W) gray or (N, H, W, C) with C = 1 or 3; uint8 (0..255) or float32/64
/// in [0, 1] (stored as bytes, as every image here is, to 1/255). Labels, optional, are a 1-D integer .npy of N
/// entries (0..255). No official split: a seeded hold-out.
/// </summary>
public static class NpyImages
{
    public const string Format = "npy";

    public static DataSet Load(string path, DataOptions o)
    {
        var a = Npy.ReadArray(path);
        if (a.Shape.Length is not (3 or 4) || (a.Shape.Length == 4 && a.Shape[3] is not (1 or 3)))
            throw new VaeException($"{path} has shape ({string.Join(", ", a.Shape)}); images need (N, H, W) or (N, H, W, C) with C 1 or 3");
        int n = a.Shape[0], h = a.Shape[1], w = a.Shape[2], c = a.Shape.Length == 4 ? a.Shape[3] : 1;
        if (n == 0 || h == 0 || w == 0) throw new VaeException($"{path} has shape ({string.Join(", ", a.Shape)}): no images");
        var pixels = new byte[a.Count];
        Func<long, byte> read = a.Descr switch
        {
            "|u1" or "<u1" => i => a.Raw[a.DataOffset + i],
            "<f4" => i => Scale(path, BinaryPrimitives.ReadSingleLittleEndian(a.Raw.AsSpan(a.DataOffset + (int)(i * 4))), i),
            "<f8" => i => Scale(path, BinaryPrimitives.ReadDoubleLittleEndian(a.Raw.AsSpan(a.DataOffset + (int)(i * 8))), i),
            _ => throw new VaeException($"{path} holds '{a.Descr}' values; images need uint8 (0..255) or float32/float64 in [0, 1]"),
        };
        // NHWC in the file; planar (NCHW) here.
        long plane = (long)h * w;
        for (long img = 0; img < n; img++)
            for (long p = 0; p < plane; p++)
                for (int ch = 0; ch < c; ch++)
                    pixels[img * plane * c + ch * plane + p] = read((img * plane + p) * c + ch);
        var labels = o.LabelsPath is null ? new byte[n] : ReadLabels(o.LabelsPath, n);
        var all = new Split("all", n, pixels, labels) { Channels = c, Height = h, Width = w };
        var (train, test) = DataSource.HoldOut(all, o.TestFraction, o.SplitSeed);
        return new DataSet(train, test, Path.GetFullPath(path), Format, false);
    }

    static byte Scale(string path, double v, long index) =>
        v is >= 0 and <= 1 ? (byte)Math.Round(v * 255) : throw new VaeException($"{path} value {index} is {v}; float images need values in [0, 1]");

    static byte[] ReadLabels(string path, int images)
    {
        var a = Npy.ReadArray(path);
        if (a.Shape.Length != 1) throw new VaeException($"labels {path} have shape ({string.Join(", ", a.Shape)}); give a 1-D array of one label per image");
        DataSource.CheckLabels(path, a.Shape[0], images);
        int size = a.Descr switch { "|u1" or "<u1" or "|i1" => 1, "<i2" or "<u2" => 2, "<i4" or "<u4" => 4, "<i8" or "<u8" => 8,
            _ => throw new VaeException($"labels {path} hold '{a.Descr}' values; give integers") };
        var labels = new byte[images];
        for (int i = 0; i < images; i++)
        {
            var at = a.Raw.AsSpan(a.DataOffset + i * size, size);
            long v = size switch { 1 => a.Descr == "|i1" ? (sbyte)at[0] : at[0], 2 => BinaryPrimitives.ReadInt16LittleEndian(at), 4 => BinaryPrimitives.ReadInt32LittleEndian(at), _ => BinaryPrimitives.ReadInt64LittleEndian(at) };
            labels[i] = v is >= 0 and <= 255 ? (byte)v : throw new VaeException($"labels {path} entry {i} is {v}; labels need 0..255");
        }
        return labels;
    }
}
