using Vae.Gpu.Layers;

namespace Vae.Gpu.Model;

/// <summary>PyTorch's default initialization: weights and biases uniform in +-1/sqrt(fan_in), seeded.</summary>
public static class Initializer
{
    public static void PyTorchDefault(ParameterStore store, int seed)
    {
        var rng = new Random(seed);
        var values = new Dictionary<string, float[]>();
        foreach (var p in store.Parameters)
        {
            var weight = store[p.Name[..p.Name.LastIndexOf('.')] + ".weight"];
            double bound = 1.0 / Math.Sqrt(FanIn(weight.Shape));
            values[p.Name] = Enumerable.Range(0, p.Length).Select(_ => (float)((rng.NextDouble() * 2 - 1) * bound)).ToArray();
        }
        store.Load(values);
    }

    /// <summary>
    /// PyTorch computes fan_in from weight.size(1) times the kernel area: In for Conv2d (Out, In, K, K) and
    /// Linear (Out, In), but Out for ConvTranspose2d, whose weight is (In, Out, K, K).
    /// </summary>
    static int FanIn(int[] weightShape) => weightShape.Skip(1).Aggregate(1, (a, b) => a * b);
}
