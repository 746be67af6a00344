using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Vae.Gpu.Devices;
using Vae.Gpu.IO;

namespace Vae.Gpu.Tests.IO;

public class FileFormatTests
{
    [Fact]
    public void SafetensorsLayoutIsTheStandardOne()
    {
        using var dir = new TempDir();
        var a = new NamedTensor("a.weight", new[] { 2, 3 }, new[] { 1f, -2f, 3.5f, 4f, 5f, 6f });
        var b = new NamedTensor("a.bias", new[] { 2 }, new[] { 0.25f, -7f });
        Safetensors.Write(dir["m.safetensors"], new[] { a, b }, new Dictionary<string, string> { ["c1"] = "16" });

        // Parse independently: u64 LE header length, JSON header, raw little-endian F32.
        var bytes = File.ReadAllBytes(dir["m.safetensors"]);
        long n = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0, n % 8);
        using var header = JsonDocument.Parse(Encoding.UTF8.GetString(bytes, 8, (int)n));
        Assert.Equal("16", header.RootElement.GetProperty("__metadata__").GetProperty("c1").GetString());
        var bias = header.RootElement.GetProperty("a.bias");
        Assert.Equal("F32", bias.GetProperty("dtype").GetString());
        long start = bias.GetProperty("data_offsets")[0].GetInt64();
        Assert.Equal(-7f, BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan((int)(8 + n + start + 4))));

        var (tensors, meta) = Safetensors.Read(dir["m.safetensors"]);
        Assert.Equal(a.Data, tensors["a.weight"].Data);
        Assert.Equal(new[] { 2, 3 }, tensors["a.weight"].Shape);
        Assert.Equal("16", meta["c1"]);
    }

    [Fact]
    public void CorruptSafetensorsAreRejectedClearly()
    {
        using var dir = new TempDir();
        Safetensors.Write(dir["ok"], new[] { new NamedTensor("w", new[] { 4 }, new[] { 1f, 2, 3, 4 }) }, new Dictionary<string, string>());
        var ok = File.ReadAllBytes(dir["ok"]);
        File.WriteAllBytes(dir["truncated"], ok[..^6]);
        Assert.Contains("does not fit", Assert.Throws<VaeException>(() => Safetensors.Read(dir["truncated"])).Message);
        File.WriteAllBytes(dir["tiny"], ok[..5]);
        Assert.Contains("corrupt", Assert.Throws<VaeException>(() => Safetensors.Read(dir["tiny"])).Message);
        var garbage = (byte[])ok.Clone();
        garbage[9] = (byte)'#';
        File.WriteAllBytes(dir["garbage"], garbage);
        Assert.Contains("not JSON", Assert.Throws<VaeException>(() => Safetensors.Read(dir["garbage"])).Message);
        Assert.Contains("not found", Assert.Throws<VaeException>(() => Safetensors.Read(dir["absent"])).Message);
    }

    [Fact]
    public void NpyIsNumPyVersion1LittleEndianFloat32()
    {
        using var dir = new TempDir();
        var data = Enumerable.Range(0, 2 * 3 * 4).Select(i => i * 0.5f - 3).ToArray();
        Npy.Write(dir["x.npy"], data, 2, 3, 4);
        var bytes = File.ReadAllBytes(dir["x.npy"]);
        Assert.Equal("\x93NUMPY", Encoding.Latin1.GetString(bytes, 0, 6));
        Assert.Equal(new byte[] { 1, 0 }, bytes[6..8]);
        int headerLength = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8));
        Assert.Equal(0, (10 + headerLength) % 64);
        string header = Encoding.ASCII.GetString(bytes, 10, headerLength);
        Assert.StartsWith("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }", header);
        Assert.EndsWith("\n", header);
        Assert.Equal(data[5], BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(10 + headerLength + 20)));
        var (back, shape) = Npy.Read(dir["x.npy"]);
        Assert.Equal(data, back);
        Assert.Equal(new[] { 2, 3, 4 }, shape);

        Npy.Write(dir["v.npy"], new[] { 1f, 2f }, 2);
        Assert.Contains("'shape': (2,)", File.ReadAllText(dir["v.npy"]));
    }

    [Fact]
    public void AtomicWriteLeavesTheOldFileWhenTheWriterFails()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["f"], "good");
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(dir["f"], s => { s.WriteByte(1); throw new InvalidOperationException("boom"); }));
        Assert.Equal("good", File.ReadAllText(dir["f"]));
        Assert.Single(Directory.GetFiles(dir.Path));
    }
}
