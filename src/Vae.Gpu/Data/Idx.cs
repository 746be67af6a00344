using System.Buffers.Binary;
using System.IO.Compression;
using Vae.Gpu.Devices;

namespace Vae.Gpu.Data;

/// <summary>
/// The IDX files of (Fashion-)MNIST, gzipped or raw: magic 2051 for images (count, rows, cols, then
/// bytes) and 2049 for labels (count, then bytes). Every inconsistency is a <see cref="VaeException"/>
/// that names the file.
/// </summary>
public static class Idx
{
    public const int ImageMagic = 2051, LabelMagic = 2049;

    public sealed record Images(int Count, int Rows, int Cols, byte[] Pixels);

    public static Images ReadImages(string path)
    {
        var bytes = ReadAll(path);
        Require(path, bytes.Length >= 16, $"is {bytes.Length} bytes, shorter than an image header (16)");
        int magic = BinaryPrimitives.ReadInt32BigEndian(bytes);
        Require(path, magic == ImageMagic, $"has magic number {magic}, not {ImageMagic} (an IDX image file)");
        int count = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(4));
        int rows = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(8));
        int cols = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(12));
        Require(path, count >= 0 && rows > 0 && cols > 0, $"has a bad header (count {count}, {rows}x{cols})");
        long expected = 16 + (long)count * rows * cols;
        Require(path, bytes.Length == expected, $"is {bytes.Length} bytes but its header ({count} images of {rows}x{cols}) needs {expected}: truncated or corrupt");
        return new Images(count, rows, cols, bytes.AsSpan(16).ToArray());
    }

    public static byte[] ReadLabels(string path)
    {
        var bytes = ReadAll(path);
        Require(path, bytes.Length >= 8, $"is {bytes.Length} bytes, shorter than a label header (8)");
        int magic = BinaryPrimitives.ReadInt32BigEndian(bytes);
        Require(path, magic == LabelMagic, $"has magic number {magic}, not {LabelMagic} (an IDX label file)");
        int count = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(4));
        Require(path, count >= 0 && bytes.Length == 8 + (long)count, $"is {bytes.Length} bytes but its header ({count} labels) needs {8 + (long)count}: truncated or corrupt");
        var labels = bytes.AsSpan(8).ToArray();
        int bad = Array.FindIndex(labels, l => l > 9);
        Require(path, bad < 0, $"has label {(bad >= 0 ? labels[bad] : 0)} at index {bad}; labels are 0..9");
        return labels;
    }

    /// <summary>The file's bytes, gunzipped when it starts with the gzip magic.</summary>
    static byte[] ReadAll(string path)
    {
        if (!File.Exists(path)) throw new VaeException($"data file {path} not found");
        try
        {
            using var file = File.OpenRead(path);
            Span<byte> head = stackalloc byte[2];
            int n = file.Read(head);
            file.Position = 0;
            if (n == 2 && head[0] == 0x1f && head[1] == 0x8b)
            {
                using var gz = new GZipStream(file, CompressionMode.Decompress);
                using var ms = new MemoryStream();
                gz.CopyTo(ms);
                return ms.ToArray();
            }
            using var raw = new MemoryStream();
            file.CopyTo(raw);
            return raw.ToArray();
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException)
        {
            throw new VaeException($"data file {path} is not a readable gzip/IDX file ({e.Message.TrimEnd('.')}); delete it and fetch the data again");
        }
    }

    static void Require(string path, bool ok, string problem)
    {
        if (!ok) throw new VaeException($"data file {path} {problem}");
    }

    /// <summary>Writes an IDX image file (gzipped when the name ends in .gz); for tests and tools.</summary>
    public static void WriteImages(string path, int count, int rows, int cols, byte[] pixels, bool? gzip = null)
    {
        var header = new byte[16];
        BinaryPrimitives.WriteInt32BigEndian(header, ImageMagic);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), count);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(8), rows);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(12), cols);
        Write(path, header.Concat(pixels).ToArray(), gzip ?? path.EndsWith(".gz"));
    }

    public static void WriteLabels(string path, byte[] labels, bool? gzip = null)
    {
        var header = new byte[8];
        BinaryPrimitives.WriteInt32BigEndian(header, LabelMagic);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), labels.Length);
        Write(path, header.Concat(labels).ToArray(), gzip ?? path.EndsWith(".gz"));
    }

    static void Write(string path, byte[] content, bool gzip)
    {
        using var file = File.Create(path);
        if (!gzip) { file.Write(content); return; }
        using var gz = new GZipStream(file, CompressionLevel.Fastest);
        gz.Write(content);
    }
}
