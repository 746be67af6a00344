using System.Buffers.Binary;
using System.Globalization;
using Google.Protobuf;
using Vae.Gpu.Devices;
using Vae.Gpu.Layers;
using Vae.Gpu.Model;

namespace Vae.Gpu.IO;

/// <summary>
/// Writes a model as two ONNX files, encoder.onnx (images [N, C, H, W] in [0, 1] -> mu, sigma [N, lat]) and
/// decoder.onnx (z [N, lat] -> images [N, C, H, W]), with a dynamic batch N, IR version 8 and opset 17 (ONNX
/// Runtime 1.13 and later, and onnx 1.12's checker, read both). The protobuf is written with Google.Protobuf's
/// coded stream and the field numbers of onnx.proto; only what these graphs use is written.
/// </summary>
public static class OnnxExport
{
    public const int IrVersion = 8, Opset = 17;
    public const string EncoderFile = "encoder.onnx", DecoderFile = "decoder.onnx";

    /// <summary>Writes both files into <paramref name="dir"/>; <paramref name="metadata"/> goes into each model's metadata_props.</summary>
    public static void Write(VAE vae, string dir, IReadOnlyDictionary<string, string> metadata)
    {
        var values = vae.Parameters.ToHost();
        var bad = values.FirstOrDefault(kv => kv.Value.Any(v => !float.IsFinite(v)));
        if (bad.Key is not null)
            throw new VaeException($"{bad.Key} holds NaN or infinite values, so the model cannot be exported; retrain, or export an earlier checkpoint");
        var encoder = Model(EncoderGraph(vae, values), metadata, "the encoder: images [N, C, H, W] in [0, 1] -> mu, sigma [N, lat] (sigma = exp of the std head)");
        var decoder = Model(DecoderGraph(vae, values), metadata, "the decoder: z [N, lat] -> images [N, C, H, W] in (0, 1)");
        AtomicFile.Write(Path.Combine(dir, EncoderFile), s => s.Write(encoder));
        AtomicFile.Write(Path.Combine(dir, DecoderFile), s => s.Write(decoder));
    }

    static byte[] EncoderGraph(VAE vae, Dictionary<string, float[]> p)
    {
        var c = vae.Config;
        var g = new Graph("vae-gpu encoder");
        string h = "images";
        for (int i = 0; i < c.Depth; i++)
        {
            var conv = vae.Encoder.Convs[i];
            string name = Encoder.ConvName(c, i);
            g.Initializer($"{name}.weight", conv.Weight.Shape, p[$"{name}.weight"]);
            g.Initializer($"{name}.bias", conv.Bias.Shape, p[$"{name}.bias"]);
            g.Node("Conv", new[] { h, $"{name}.weight", $"{name}.bias" }, $"{name}.out", Ints("kernel_shape", c.Kernel, c.Kernel));
            g.Node("Relu", new[] { $"{name}.out" }, h = $"{name}.relu");
        }
        g.Node("Flatten", new[] { h }, "features", Int("axis", 1));
        foreach (var head in new[] { "encoder.mean", "encoder.std" })
        {
            g.Initializer($"{head}.weight", new[] { c.Latent, c.Features }, p[$"{head}.weight"]);
            g.Initializer($"{head}.bias", new[] { c.Latent }, p[$"{head}.bias"]);
        }
        g.Node("Gemm", new[] { "features", "encoder.mean.weight", "encoder.mean.bias" }, "mu", Int("transB", 1));
        g.Node("Gemm", new[] { "features", "encoder.std.weight", "encoder.std.bias" }, "log_sigma", Int("transB", 1));
        g.Node("Exp", new[] { "log_sigma" }, "sigma");
        g.Input("images", c.ImageChannels, c.Height, c.Width);
        g.Output("mu", c.Latent);
        g.Output("sigma", c.Latent);
        return g.ToBytes();
    }

    static byte[] DecoderGraph(VAE vae, Dictionary<string, float[]> p)
    {
        var c = vae.Config;
        var g = new Graph("vae-gpu decoder");
        string linear = Decoder.LinearName(c);
        g.Initializer($"{linear}.weight", new[] { c.Features, c.Latent }, p[$"{linear}.weight"]);
        g.Initializer($"{linear}.bias", new[] { c.Features }, p[$"{linear}.bias"]);
        g.Node("Gemm", new[] { "z", $"{linear}.weight", $"{linear}.bias" }, $"{linear}.out", Int("transB", 1));
        g.Node("Relu", new[] { $"{linear}.out" }, $"{linear}.relu");
        g.Int64Initializer("feature_shape", new long[] { -1, c.FeatureChannels, c.FeatureHeight, c.FeatureWidth });
        g.Node("Reshape", new[] { $"{linear}.relu", "feature_shape" }, "features");
        string h = "features";
        for (int j = 0; j < c.Depth; j++)
        {
            var deconv = vae.Decoder.Deconvs[j];
            string name = Decoder.DeconvName(c, j);
            bool last = j == c.Depth - 1;
            g.Initializer($"{name}.weight", deconv.Weight.Shape, p[$"{name}.weight"]);
            g.Initializer($"{name}.bias", deconv.Bias.Shape, p[$"{name}.bias"]);
            g.Node("ConvTranspose", new[] { h, $"{name}.weight", $"{name}.bias" }, $"{name}.out", Ints("kernel_shape", c.Kernel, c.Kernel));
            g.Node(last ? "Sigmoid" : "Relu", new[] { $"{name}.out" }, h = last ? "images" : $"{name}.relu");
        }
        g.Input("z", c.Latent);
        g.Output("images", c.ImageChannels, c.Height, c.Width);
        return g.ToBytes();
    }

    static byte[] Model(byte[] graph, IReadOnlyDictionary<string, string> metadata, string doc)
    {
        var m = new Message()
            .Varint(1, IrVersion)
            .String(2, "vae-gpu")
            .String(3, typeof(OnnxExport).Assembly.GetName().Version?.ToString(3) ?? "0")
            .String(6, doc)
            .Bytes(7, graph)
            .Sub(8, new Message().String(1, "").Varint(2, Opset));
        foreach (var (key, value) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            m.Sub(14, new Message().String(1, key).String(2, value));
        return m.ToBytes();
    }

    static byte[] Int(string name, long value) => new Message().String(1, name).Varint(3, value).Varint(20, 2).ToBytes();

    static byte[] Ints(string name, params long[] values)
    {
        var m = new Message().String(1, name);
        foreach (var v in values) m.Varint(8, v);
        return m.Varint(20, 7).ToBytes();
    }

    /// <summary>A GraphProto being built: nodes in order, initializers, and the typed inputs and outputs.</summary>
    sealed class Graph(string name)
    {
        readonly Message _m = new Message();
        readonly List<byte[]> _initializers = new(), _inputs = new(), _outputs = new(), _nodes = new();

        public void Node(string op, string[] inputs, string output, params byte[][] attributes)
        {
            var n = new Message();
            foreach (var i in inputs) n.String(1, i);
            n.String(2, output).String(3, $"{op.ToLowerInvariant()}_{_nodes.Count}").String(4, op);
            foreach (var a in attributes) n.Bytes(5, a);
            _nodes.Add(n.ToBytes());
        }

        public void Initializer(string tensor, IReadOnlyList<int> dims, float[] data)
        {
            if (dims.Aggregate(1L, (a, d) => a * d) != data.Length) throw new InvalidOperationException($"{tensor}: {data.Length} values for [{string.Join(",", dims)}]");
            var raw = new byte[data.Length * 4];
            for (int i = 0; i < data.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(raw.AsSpan(i * 4), data[i]);
            var t = new Message();
            foreach (var d in dims) t.Varint(1, d);
            _initializers.Add(t.Varint(2, 1).String(8, tensor).Bytes(9, raw).ToBytes());
        }

        public void Int64Initializer(string tensor, long[] data)
        {
            var raw = new byte[data.Length * 8];
            for (int i = 0; i < data.Length; i++) BinaryPrimitives.WriteInt64LittleEndian(raw.AsSpan(i * 8), data[i]);
            _initializers.Add(new Message().Varint(1, data.Length).Varint(2, 7).String(8, tensor).Bytes(9, raw).ToBytes());
        }

        /// <summary>A float tensor [N, dims...] with a symbolic batch N.</summary>
        static byte[] Value(string value, int[] dims)
        {
            var shape = new Message().Sub(1, new Message().String(2, "N"));
            foreach (var d in dims) shape.Sub(1, new Message().Varint(1, d));
            var tensor = new Message().Varint(1, 1).Sub(2, shape);
            return new Message().String(1, value).Sub(2, new Message().Sub(1, tensor)).ToBytes();
        }

        public void Input(string value, params int[] dims) => _inputs.Add(Value(value, dims));
        public void Output(string value, params int[] dims) => _outputs.Add(Value(value, dims));

        public byte[] ToBytes()
        {
            foreach (var n in _nodes) _m.Bytes(1, n);
            _m.String(2, name);
            foreach (var t in _initializers) _m.Bytes(5, t);
            foreach (var i in _inputs) _m.Bytes(11, i);
            foreach (var o in _outputs) _m.Bytes(12, o);
            return _m.ToBytes();
        }
    }

    /// <summary>One protobuf message written field by field (varints and length-delimited fields).</summary>
    sealed class Message
    {
        readonly MemoryStream _stream = new();
        readonly CodedOutputStream _out;

        public Message() => _out = new CodedOutputStream(_stream, leaveOpen: true);

        public Message Varint(int field, long value)
        {
            _out.WriteTag(field, WireFormat.WireType.Varint);
            _out.WriteInt64(value);
            return this;
        }

        public Message String(int field, string value)
        {
            _out.WriteTag(field, WireFormat.WireType.LengthDelimited);
            _out.WriteString(value);
            return this;
        }

        public Message Bytes(int field, byte[] value)
        {
            _out.WriteTag(field, WireFormat.WireType.LengthDelimited);
            _out.WriteBytes(ByteString.CopyFrom(value));
            return this;
        }

        public Message Sub(int field, Message value) => Bytes(field, value.ToBytes());

        public byte[] ToBytes()
        {
            _out.Flush();
            return _stream.ToArray();
        }
    }

    /// <summary>What each file's metadata_props record: the model and where it came from.</summary>
    public static Dictionary<string, string> Metadata(VaeConfig c, string runDir, int epoch) => new()
    {
        ["vae_gpu.model"] = c.Describe(),
        ["vae_gpu.latent"] = c.Latent.ToString(CultureInfo.InvariantCulture),
        ["vae_gpu.kernel"] = c.Kernel.ToString(CultureInfo.InvariantCulture),
        ["vae_gpu.channels"] = string.Join(",", c.AllChannels),
        ["vae_gpu.image"] = $"{c.ImageChannels}x{c.Height}x{c.Width}",
        ["vae_gpu.kl"] = VaeConfig.KlName(c.Kl),
        ["vae_gpu.prior_variance"] = c.Kl == Kernels.KlKind.Seed ? "0.5" : "1",
        ["vae_gpu.tensor_names"] = c.NotebookNames ? "notebook" : "problem-set",
        ["vae_gpu.run"] = Path.GetFullPath(runDir),
        ["vae_gpu.epoch"] = epoch.ToString(CultureInfo.InvariantCulture),
    };
}
