using Vae.Gpu.Devices;
using Vae.Gpu.Tensors;

namespace Vae.Gpu.Layers;

/// <summary>A named parameter: its values and its gradient are views of the store's two buffers.</summary>
public sealed record Parameter(string Name, int[] Shape, int Offset, Tensor Value, Tensor Grad)
{
    public int Length => Value.Length;
}

/// <summary>
/// Every parameter of a model in one device buffer and every gradient in another, laid out in the order
/// declared, so that zero-grad and Adam are one launch each and checkpoints are one copy.
/// </summary>
public sealed class ParameterStore : IDisposable
{
    readonly List<Parameter> _parameters = new();

    public ComputeDevice Device { get; }
    public Tensor Values { get; }
    public Tensor Grads { get; }
    public IReadOnlyList<Parameter> Parameters => _parameters;

    public ParameterStore(ComputeDevice device, IEnumerable<(string Name, int[] Shape)> specs)
    {
        Device = device;
        var list = specs.ToList();
        int total = list.Sum(s => s.Shape.Aggregate(1, (a, b) => a * b));
        Values = Tensor.Zeros(device, total);
        Grads = Tensor.Zeros(device, total);
        int offset = 0;
        foreach (var (name, shape) in list)
        {
            int n = shape.Aggregate(1, (a, b) => a * b);
            _parameters.Add(new Parameter(name, shape, offset, Values.Slice(offset, shape), Grads.Slice(offset, shape)));
            offset += n;
        }
    }

    public Parameter this[string name] =>
        _parameters.FirstOrDefault(p => p.Name == name) ?? throw new KeyNotFoundException($"no parameter named {name}");

    public int Count => Values.Length;

    /// <summary>
    /// Parameters declared one after another, viewed as one of <paramref name="shape"/>: a layer's weight and
    /// bias then take one gradient launch, and the encoder's two heads one GEMM.
    /// </summary>
    public Parameter Joined(int[] shape, params Parameter[] adjacent)
    {
        for (int i = 1; i < adjacent.Length; i++)
            if (adjacent[i].Offset != adjacent[i - 1].Offset + adjacent[i - 1].Length)
                throw new InvalidOperationException($"{adjacent[i].Name} is not declared right after {adjacent[i - 1].Name}");
        int offset = adjacent[0].Offset;
        return new Parameter(string.Join("+", adjacent.Select(p => p.Name)), shape, offset, Values.Slice(offset, shape), Grads.Slice(offset, shape));
    }

    public void ZeroGrad() => Grads.Clear();

    /// <summary>Copies every parameter to the host, keyed by name.</summary>
    public Dictionary<string, float[]> ToHost()
    {
        var all = Values.ToArray();
        return _parameters.ToDictionary(p => p.Name, p => all.AsSpan(p.Offset, p.Length).ToArray());
    }

    public Dictionary<string, float[]> GradsToHost()
    {
        var all = Grads.ToArray();
        return _parameters.ToDictionary(p => p.Name, p => all.AsSpan(p.Offset, p.Length).ToArray());
    }

    /// <summary>Uploads every parameter; the dictionary must hold each name with the right length.</summary>
    public void Load(IReadOnlyDictionary<string, float[]> values)
    {
        var all = new float[Count];
        foreach (var p in _parameters)
        {
            if (!values.TryGetValue(p.Name, out var v))
                throw new VaeException($"checkpoint lacks tensor {p.Name}");
            if (v.Length != p.Length)
                throw new VaeException($"tensor {p.Name} has {v.Length} values, the model needs {p.Length} [{string.Join(",", p.Shape)}]");
            v.CopyTo(all, p.Offset);
        }
        Values.CopyFrom(all);
    }

    public void Dispose()
    {
        Values.Dispose();
        Grads.Dispose();
    }
}
