using Vae.Gpu.Devices;
using Vae.Gpu.Kernels.Reference;
using Vae.Gpu.Layers;
using static Vae.Gpu.Tests.Numeric;

namespace Vae.Gpu.Tests.Layers;

/// <summary>
/// Conv2d and ConvTranspose2d, forward and every gradient, against the oracle on shapes that fit no tile, with the
/// versions dispatch picks on each accelerator. Every version of the kernels behind them is tested on the same
/// calls by <see cref="Kernels.KernelFamilyTests"/>.
/// </summary>
public class ConvolutionLayerTests
{
    // (batch, in, out, height, width, kernel): odd sizes so every tile edge is exercised; width 37 is past
    // the 32 columns of conv v4 and weight-gradient v2 (a transposed convolution's output is wider still).
    public static IEnumerable<object[]> Cases() =>
        from choice in new[] { AcceleratorChoice.Cpu, AcceleratorChoice.Cuda, AcceleratorChoice.OpenCL }
        from shape in new[] { new[] { 3, 5, 7, 11, 13, 3 }, new[] { 2, 1, 6, 9, 7, 4 }, new[] { 5, 6, 1, 8, 10, 1 }, new[] { 4, 3, 9, 14, 12, 5 }, new[] { 2, 2, 3, 5, 37, 3 } }
        select new object[] { choice, shape };

    static ParameterStore Store(ComputeDevice device, IEnumerable<(string, int[])> specs, Random rng, out Dictionary<string, double[]> values)
    {
        var store = new ParameterStore(device, specs);
        values = store.Parameters.ToDictionary(p => p.Name, p => Representable(Random(rng, p.Length)));
        store.Load(values.ToDictionary(kv => kv.Key, kv => ToFloat(kv.Value)));
        return store;
    }

    [SkippableTheory, MemberData(nameof(Cases))]
    public void Conv2dForwardAndBackwardMatchReference(AcceleratorChoice choice, int[] shape) => Conv2dCase(TestDevices.Get(choice), shape);

    static void Conv2dCase(ComputeDevice device, int[] shape)
    {
        int b = shape[0], ci = shape[1], co = shape[2], h = shape[3], w = shape[4], k = shape[5];
        var rng = new Random(1000 + shape.Sum());
        using var store = Store(device, Conv2d.Specs("c", ci, co, k), rng, out var p);
        using var layer = new Conv2d(store, "c", ci, co, k, Activation.None);
        var x = Representable(Random(rng, b * ci * h * w));
        using var xt = Upload(device, x, b, ci, h, w);

        var y = layer.Forward(xt);
        AssertClose(y.ToArray(), ReferenceOps.Conv2d(x, p["c.weight"], p["c.bias"], b, ci, co, h, w, k), "conv2d forward");

        var dy = Representable(Random(rng, y.Length));
        using var dyt = Upload(device, dy, y.Shape);
        store.Grads.Poison();
        var dx = layer.Backward(dyt, needInputGrad: true)!;
        var (rdx, rdw, rdb) = ReferenceOps.Conv2dBackward(x, p["c.weight"], dy, b, ci, co, h, w, k);
        AssertClose(dx.ToArray(), rdx, "conv2d dx");
        AssertClose(layer.Weight.Grad.ToArray(), rdw, "conv2d dw");
        AssertClose(layer.Bias.Grad.ToArray(), rdb, "conv2d db");
    }

    [SkippableTheory, MemberData(nameof(Cases))]
    public void ConvTranspose2dForwardAndBackwardMatchReference(AcceleratorChoice choice, int[] shape) => ConvTranspose2dCase(TestDevices.Get(choice), shape);

    static void ConvTranspose2dCase(ComputeDevice device, int[] shape)
    {
        int b = shape[0], ci = shape[1], co = shape[2], h = shape[3], w = shape[4], k = shape[5];
        var rng = new Random(2000 + shape.Sum());
        using var store = Store(device, ConvTranspose2d.Specs("t", ci, co, k), rng, out var p);
        using var layer = new ConvTranspose2d(store, "t", ci, co, k, Activation.None);
        var x = Representable(Random(rng, b * ci * h * w));
        using var xt = Upload(device, x, b, ci, h, w);

        var y = layer.Forward(xt);
        Assert.Equal(new[] { b, co, h + k - 1, w + k - 1 }, y.Shape);
        AssertClose(y.ToArray(), ReferenceOps.ConvTranspose2d(x, p["t.weight"], p["t.bias"], b, ci, co, h, w, k), "convtranspose2d forward");

        var dy = Representable(Random(rng, y.Length));
        using var dyt = Upload(device, dy, y.Shape);
        store.Grads.Poison();
        var dx = layer.Backward(dyt, needInputGrad: true)!;
        var (rdx, rdw, rdb) = ReferenceOps.ConvTranspose2dBackward(x, p["t.weight"], dy, b, ci, co, h, w, k);
        AssertClose(dx.ToArray(), rdx, "convtranspose2d dx");
        AssertClose(layer.Weight.Grad.ToArray(), rdw, "convtranspose2d dw");
        AssertClose(layer.Bias.Grad.ToArray(), rdb, "convtranspose2d db");
    }

    [SkippableTheory, MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void FusedActivationsAndReluMaskMatchReference(AcceleratorChoice choice)
    {
        var device = TestDevices.Get(choice);
        const int b = 3, ci = 4, co = 5, h = 10, w = 9, k = 3;
        var rng = new Random(7);
        using var store = Store(device, Conv2d.Specs("r", ci, co, k).Concat(ConvTranspose2d.Specs("s", co, 2, k)), rng, out var p);
        using var relu = new Conv2d(store, "r", ci, co, k, Activation.Relu);
        using var sigmoid = new ConvTranspose2d(store, "s", co, 2, k, Activation.Sigmoid, inputActivation: Activation.Relu);
        var x = Representable(Random(rng, b * ci * h * w));
        using var xt = Upload(device, x, b, ci, h, w);

        var h1 = relu.Forward(xt);
        var rh1 = ReferenceOps.Relu(ReferenceOps.Conv2d(x, p["r.weight"], p["r.bias"], b, ci, co, h, w, k));
        Assert.Contains(rh1, v => v == 0);
        AssertClose(h1.ToArray(), rh1, "conv2d + relu");
        var y = sigmoid.Forward(h1);
        var ry = ReferenceOps.Sigmoid(ReferenceOps.ConvTranspose2d(rh1, p["s.weight"], p["s.bias"], b, co, 2, h - k + 1, w - k + 1, k));
        AssertClose(y.ToArray(), ry, "convtranspose2d + sigmoid");

        // The input gradient of the second layer masked by the first layer's ReLU (the input it keeps): ReLU's backward, fused.
        var dy = Representable(Random(rng, y.Length));
        using var dyt = Upload(device, dy, y.Shape);
        var dh1 = sigmoid.Backward(dyt)!;
        var (rdh1, _, _) = ReferenceOps.ConvTranspose2dBackward(rh1, p["s.weight"], dy, b, co, 2, h - k + 1, w - k + 1, k);
        AssertClose(dh1.ToArray(), ReferenceOps.ReluBackward(rh1, rdh1), "relu backward (fused mask)");
    }
}
