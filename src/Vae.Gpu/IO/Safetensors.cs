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

    /// <summary>Reads every tensor and the metadata; any inconsistency is a <see cref="VaeException"/> naming the file.</summary>
    public static (Dictionary<string, NamedTensor> Tensors, Dictionary<string, string> Metadata) Read(string path)
    {
        if (!File.Exists(path)) throw new VaeException($"checkpoint {path} not found; train one first with 'vae-gpu train --out DIR'");
        byte[] all;
        try { all = File.ReadAllBytes(path); }
        catch (IOException e) { throw new VaeException($"cannot read checkpoint {path}: {e.Message}"); }
        string Bad(string why) => $"checkpoint {path} is corrupt ({why}); retrain or restore it";
        if (all.Length < 8) throw new VaeException(Bad("shorter than its 8-byte header length"));
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(all);
        if (headerLength > (ulong)(all.Length - 8)) throw new VaeException(Bad($"header of {headerLength} bytes in a {all.Length}-byte file"));
        JsonObject header;
        try { header = JsonNode.Parse(Encoding.UTF8.GetString(all, 8, (int)headerLength))!.AsObject(); }
        catch (Exception e) when (e is JsonException or InvalidOperationException or NullReferenceException)
        { throw new VaeException(Bad("its header is not JSON")); }

        long dataStart = 8 + (long)headerLength, dataLength = all.Length - dataStart;
        var tensors = new Dictionary<string, NamedTensor>();
        var metadata = new Dictionary<string, string>();
        foreach (var (name, node) in header)
        {
            if (name == "__metadata__")
            {
                foreach (var (k, v) in node!.AsObject()) metadata[k] = v?.GetValue<string>() ?? "";
                continue;
            }
            try
            {
                var o = node!.AsObject();
                if (o["dtype"]!.GetValue<string>() != "F32") throw new VaeException(Bad($"{name} is {o["dtype"]}, only F32 is read"));
                var shape = o["shape"]!.AsArray().Select(d => d!.GetValue<int>()).ToArray();
                var range = o["data_offsets"]!.AsArray().Select(d => d!.GetValue<long>()).ToArray();
                long count = shape.Aggregate(1L, (a, b) => a * b);
                if (range.Length != 2 || range[0] < 0 || range[1] > dataLength || range[1] - range[0] != count * 4)
                    throw new VaeException(Bad($"{name}'s data range [{string.Join(",", range)}] does not fit shape [{string.Join(",", shape)}] in {dataLength} bytes of data"));
                var data = new float[count];
                var bytes = all.AsSpan((int)(dataStart + range[0]), (int)(count * 4));
                for (int i = 0; i < count; i++) data[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(i * 4)..]);
                tensors[name] = new NamedTensor(name, shape, data);
            }
            catch (Exception e) when (e is InvalidOperationException or NullReferenceException or FormatException)
            { throw new VaeException(Bad($"entry {name} is malformed")); }
        }
        return (tensors, metadata);
    }
}
