using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Vae.Gpu.Devices;

namespace Vae.Gpu.IO;

/// <summary>One tensor of a safetensors file: F32 values in row-major order.</summary>
public sealed record NamedTensor(string Name, int[] Shape, float[] Data);

/// <summary>
/// The safetensors format: 8-byte little-endian header length, a JSON header naming each tensor's dtype,
/// shape and byte range, then the raw data. Only F32 is written or read.
/// </summary>
public static class Safetensors
{
    public static void Write(string path, IEnumerable<NamedTensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        var list = tensors.ToList();
        var header = new JsonObject { ["__metadata__"] = new JsonObject(metadata.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))) };
        long offset = 0;
        foreach (var t in list)
        {
            long bytes = (long)t.Data.Length * 4;
            header[t.Name] = new JsonObject
            {
                ["dtype"] = "F32",
                ["shape"] = new JsonArray(t.Shape.Select(d => (JsonNode?)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + bytes),
            };
            offset += bytes;
        }
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        // Pad the header with spaces to a multiple of 8, as the reference implementation does.
        int padded = (headerBytes.Length + 7) / 8 * 8;
        AtomicFile.Write(path, stream =>
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)padded);
            stream.Write(len);
            stream.Write(headerBytes);
            for (int i = headerBytes.Length; i < padded; i++) stream.WriteByte((byte)' ');
            foreach (var t in list)
            {
                var raw = new byte[t.Data.Length * 4];
                for (int i = 0; i < t.Data.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(raw.AsSpan(i * 4), t.Data[i]);
                stream.Write(raw);
            }
        });
    }

    /// <summary>
    /// Reads every tensor and the metadata; any inconsistency (a malformed header, a duplicate key, metadata
    /// that is not a string, a shape that overflows or does not fit the data) is one
    /// "corrupt checkpoint FILE: ..." <see cref="VaeException"/>.
    /// </summary>
    public static (Dictionary<string, NamedTensor> Tensors, Dictionary<string, string> Metadata) Read(string path)
    {
        if (!File.Exists(path)) throw new VaeException($"checkpoint {path} not found; train one first with 'vae-gpu train «OutDir» DIR'");
        byte[] all;
        try { all = File.ReadAllBytes(path); }
        catch (IOException e) { throw new VaeException($"cannot read checkpoint {path}: {e.Message}"); }
        VaeException Bad(string why) => Corrupt(path, why);
        if (all.Length < 8) throw Bad("shorter than its 8-byte header length");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(all);
        if (headerLength > (ulong)(all.Length - 8)) throw Bad($"header of {headerLength} bytes in a {all.Length}-byte file");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(all.AsMemory(8, (int)headerLength)); }
        catch (JsonException) { throw Bad("its header is not JSON"); }
        using var _ = doc;
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Bad("its header is not a JSON object");

        long dataStart = 8 + (long)headerLength, dataLength = all.Length - dataStart;
        var tensors = new Dictionary<string, NamedTensor>();
        var metadata = new Dictionary<string, string>();
        var seen = new HashSet<string>();
        try
        {
            ReadHeader();
        }
        catch (InvalidOperationException) // JsonDocument parses lazily: a name or string that is not UTF-8 shows only when read
        {
            throw Bad("its header holds text that is not valid UTF-8");
        }
        return (tensors, metadata);

        void ReadHeader()
        {
        foreach (var entry in doc.RootElement.EnumerateObject())
        {
            string name = entry.Name;
            if (!seen.Add(name)) throw Bad($"the header names '{name}' twice");
            if (name == "__metadata__")
            {
                if (entry.Value.ValueKind != JsonValueKind.Object) throw Bad("__metadata__ is not an object");
                foreach (var m in entry.Value.EnumerateObject())
                {
                    if (m.Value.ValueKind != JsonValueKind.String) throw Bad($"metadata '{m.Name}' is a {m.Value.ValueKind.ToString().ToLowerInvariant()}, not a string");
                    if (!metadata.TryAdd(m.Name, m.Value.GetString()!)) throw Bad($"metadata names '{m.Name}' twice");
                }
                continue;
            }
            tensors[name] = ReadTensor(entry.Value, name, all, dataStart, dataLength, Bad);
        }
        }
    }

    public static VaeException Corrupt(string path, string why) =>
        new($"corrupt checkpoint {path}: {why}; retrain, or restore the file from a backup");

    static NamedTensor ReadTensor(JsonElement o, string name, byte[] all, long dataStart, long dataLength, Func<string, VaeException> bad)
    {
        if (o.ValueKind != JsonValueKind.Object
            || !o.TryGetProperty("dtype", out var dtype) || dtype.ValueKind != JsonValueKind.String
            || !o.TryGetProperty("shape", out var shapeNode) || shapeNode.ValueKind != JsonValueKind.Array
            || !o.TryGetProperty("data_offsets", out var rangeNode) || rangeNode.ValueKind != JsonValueKind.Array)
            throw bad($"entry {name} lacks a dtype, shape or data_offsets");
        if (dtype.GetString() != "F32") throw bad($"{name} is {dtype.GetString()}, only F32 is read");
        var shape = new List<int>();
        long count = 1;
        foreach (var d in shapeNode.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt32(out int dim) || dim < 0)
                throw bad($"{name} has a shape entry {d.GetRawText()} that is not a size");
            shape.Add(dim);
            count = dim == 0 ? 0 : count > long.MaxValue / 4 / dim ? throw bad($"{name}'s shape [{shapeNode.GetRawText()}] overflows") : count * dim;
        }
        var range = rangeNode.EnumerateArray().Select(r => r.ValueKind == JsonValueKind.Number && r.TryGetInt64(out long v) ? v : -1).ToArray();
        if (range.Length != 2 || range[0] < 0 || range[1] < range[0] || range[1] > dataLength || range[1] - range[0] != count * 4)
            throw bad($"{name}'s data range {rangeNode.GetRawText()} does not fit shape [{string.Join(",", shape)}] in {dataLength} bytes of data");
        var data = new float[count];
        var bytes = all.AsSpan((int)(dataStart + range[0]), (int)(count * 4));
        for (int i = 0; i < count; i++) data[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(i * 4)..]);
        return new NamedTensor(name, shape.ToArray(), data);
    }
}
