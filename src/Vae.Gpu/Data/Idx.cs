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

    /// <summary>The most data an IDX file may declare: far above Fashion-MNIST's 47 MB, far below a decompression bomb.</summary>
    public const long MaxDeclaredBytes = 1L << 30;

    public static Images ReadImages(string path)
    {
        int count = 0, rows = 0, cols = 0;
        var body = ReadBounded(path, 16, "an image header", header =>
        {
            int magic = BinaryPrimitives.ReadInt32BigEndian(header);
            Require(path, magic == ImageMagic, $"has magic number {magic}, not {ImageMagic} (an IDX image file)");
            count = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(4));
            rows = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(8));
            cols = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(12));
            Require(path, count >= 0 && rows > 0 && cols > 0, $"has a bad header (count {count}, {rows}x{cols})");
            return ((long)count * rows * cols, $"its header ({count} images of {rows}x{cols})");
        });
        return new Images(count, rows, cols, body);
    }

    /// <summary>An IDX label file; each label at most <paramref name="maxLabel"/> (Fashion-MNIST's are 0..9).</summary>
    public static byte[] ReadLabels(string path, int maxLabel = 255)
    {
        var labels = ReadBounded(path, 8, "a label header", header =>
        {
            int magic = BinaryPrimitives.ReadInt32BigEndian(header);
            Require(path, magic == LabelMagic, $"has magic number {magic}, not {LabelMagic} (an IDX label file)");
            int count = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(4));
            Require(path, count >= 0, $"has a bad header (count {count})");
            return (count, $"its header ({count} labels)");
        });
        int bad = Array.FindIndex(labels, l => l > maxLabel);
        Require(path, bad < 0, $"has label {(bad >= 0 ? labels[bad] : 0)} at index {bad}; labels are 0..{maxLabel}");
        return labels;
    }

    /// <summary>
    /// Reads the header (gunzipping when the file starts with the gzip magic), then exactly the body size the
    /// header declares, and checks nothing follows. Nothing is decompressed or allocated beyond what the
    /// header declares, so a small .gz that inflates to gigabytes is refused after its first bytes.
    /// </summary>
    static byte[] ReadBounded(string path, int headerLength, string headerName, Func<byte[], (long Length, string Why)> bodyOf)
    {
        if (!File.Exists(path)) throw new VaeException($"data file {path} not found");
        try
        {
            using var file = File.OpenRead(path);
            Span<byte> magic = stackalloc byte[2];
            int n = file.Read(magic);
            file.Position = 0;
            using Stream stream = n == 2 && magic[0] == 0x1f && magic[1] == 0x8b ? new GZipStream(file, CompressionMode.Decompress) : file;
            var header = new byte[headerLength];
            int got = stream.ReadAtLeast(header, headerLength, throwOnEndOfStream: false);
            Require(path, got == headerLength, $"is {got} bytes, shorter than {headerName} ({headerLength})");
            var (length, why) = bodyOf(header);
            Require(path, length <= MaxDeclaredBytes, $"declares {length:N0} bytes of data in {why}, more than the {MaxDeclaredBytes:N0} allowed: corrupt");
            var body = new byte[length];
            got = stream.ReadAtLeast(body, body.Length, throwOnEndOfStream: false);
            Require(path, got == length, $"has {headerLength + got} bytes but {why} needs {headerLength + length}: truncated or corrupt");
            Require(path, stream.ReadByte() < 0, $"has more data than {why} declares: corrupt");
            return body;
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
