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

    /// <summary>A .npy file's element type ('|u1', '&lt;f4', ...), shape and raw C-order data.</summary>
    public sealed record Array(string Descr, int[] Shape, byte[] Raw, int DataOffset)
    {
        public long Count => Shape.Aggregate(1L, (a, b) => a * b);
    }

    /// <summary>Reads any little-endian C-order .npy (version 1, 2 or 3); the caller checks its type and shape.</summary>
    public static Array ReadArray(string path)
    {
        if (!File.Exists(path)) throw new VaeException($"{path} not found");
        var all = File.ReadAllBytes(path);
        VaeException Bad(string why) => new($"{path} is not a readable .npy file ({why}); save it with numpy.save");
        if (all.Length < 10 || !all.AsSpan(0, 6).SequenceEqual(Magic)) throw Bad("no NumPy magic");
        int major = all[6], lengthBytes = major == 1 ? 2 : 4, start = 8 + lengthBytes;
        if (major is < 1 or > 3 || all.Length < start) throw Bad($"version {major}");
        long headerLength = major == 1 ? BinaryPrimitives.ReadUInt16LittleEndian(all.AsSpan(8)) : BinaryPrimitives.ReadUInt32LittleEndian(all.AsSpan(8));
        if (start + headerLength > all.Length) throw Bad("truncated header");
        string header = Encoding.ASCII.GetString(all, start, (int)headerLength);
        string Field(string key)
        {
            int at = header.IndexOf($"'{key}':", StringComparison.Ordinal);
            if (at < 0) throw Bad($"no '{key}' in its header");
            return header[(at + key.Length + 3)..].TrimStart();
        }
        string descrText = Field("descr");
        if (descrText.Length < 2 || descrText[0] != '\'') throw Bad("no element type");
        string descr = descrText[1..descrText.IndexOf('\'', 1)];
        if (Field("fortran_order").StartsWith("True", StringComparison.Ordinal))
            throw new VaeException($"{path} is stored in Fortran order; save it in C order (numpy.ascontiguousarray)");
        string shapeText = Field("shape");
        int close = shapeText.IndexOf(')');
        if (!shapeText.StartsWith('(') || close < 0) throw Bad("no shape");
        var shape = new List<int>();
        foreach (var part in shapeText[1..close].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            shape.Add(int.TryParse(part, out int d) && d >= 0 ? d : throw Bad($"shape entry '{part}'"));
        var array = new Array(descr, shape.ToArray(), all, start + (int)headerLength);
        long itemSize = descr.Length >= 3 && int.TryParse(descr[2..], out int size) ? size : 0;
        if (itemSize > 0 && all.Length - array.DataOffset != array.Count * itemSize)
            throw Bad($"it holds {all.Length - array.DataOffset} data bytes, its shape ({string.Join(", ", shape)}) of '{descr}' needs {array.Count * itemSize}");
        return array;
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
