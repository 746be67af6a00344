using System.Buffers.Binary;
using System.Text;
using Vae.Gpu.Devices;

namespace Vae.Gpu.IO;

/// <summary>NumPy's .npy format, version 1.0, '&lt;f4', C order: what <c>numpy.load</c> reads.</summary>
public static class Npy
{
    static readonly byte[] Magic = { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y' };

    public static void Write(string path, float[] data, params int[] shape)
    {
        if (shape.Aggregate(1L, (a, b) => a * b) != data.Length)
            throw new ArgumentException($"shape ({string.Join(", ", shape)}) does not hold {data.Length} values");
        string dims = shape.Length == 1 ? $"{shape[0]}," : string.Join(", ", shape);
        string dict = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}";
        // Magic (6) + version (2) + header length (2) + header, padded with spaces and a newline to 64 bytes.
        int total = (10 + dict.Length + 1 + 63) / 64 * 64;
        string header = dict.PadRight(total - 10 - 1) + "\n";
        AtomicFile.Write(path, s =>
        {
            s.Write(Magic);
            s.WriteByte(1); s.WriteByte(0);
            Span<byte> len = stackalloc byte[2];
            BinaryPrimitives.WriteUInt16LittleEndian(len, (ushort)header.Length);
            s.Write(len);
            s.Write(Encoding.ASCII.GetBytes(header));
            var raw = new byte[data.Length * 4];
            for (int i = 0; i < data.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(raw.AsSpan(i * 4), data[i]);
            s.Write(raw);
        });
    }

    /// <summary>Reads a float32 C-order .npy written by <see cref="Write"/> or NumPy.</summary>
    public static (float[] Data, int[] Shape) Read(string path)
    {
        var all = File.ReadAllBytes(path);
        if (all.Length < 10 || !all.AsSpan(0, 6).SequenceEqual(Magic))
            throw new VaeException($"{path} is not a .npy file");
        int headerLength = BinaryPrimitives.ReadUInt16LittleEndian(all.AsSpan(8));
        string header = Encoding.ASCII.GetString(all, 10, headerLength);
        if (!header.Contains("'descr': '<f4'") || !header.Contains("'fortran_order': False"))
            throw new VaeException($"{path} is not little-endian float32 in C order: {header.Trim()}");
        int open = header.IndexOf("'shape': (", StringComparison.Ordinal) + 10, close = header.IndexOf(')', open);
        var shape = header[open..close].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse).ToArray();
        int count = shape.Aggregate(1, (a, b) => a * b), start = 10 + headerLength;
        if (all.Length - start != count * 4) throw new VaeException($"{path} holds {all.Length - start} data bytes, its shape needs {count * 4}");
        var data = new float[count];
        for (int i = 0; i < count; i++) data[i] = BinaryPrimitives.ReadSingleLittleEndian(all.AsSpan(start + i * 4));
        return (data, shape);
    }
}
