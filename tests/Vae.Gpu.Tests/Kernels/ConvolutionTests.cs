using Vae.Gpu.Devices;
using Vae.Gpu.Kernels;
using Vae.Gpu.Kernels.Reference;
using Vae.Gpu.Layers;
using Vae.Gpu.Tensors;
using static Vae.Gpu.Tests.Numeric;

namespace Vae.Gpu.Tests.Kernels;

/// <summary>Conv2d and ConvTranspose2d, forward and every gradient, against the oracle on shapes that fit no tile.</summary>
public class ConvolutionTests
{
    // (batch, in, out, height, width, kernel): odd sizes so every tile edge is exercised; width 37 is past
    // the 32 columns of conv v4 and weight-gradient v2 (a transposed convolution's output is wider still).
    public static IEnumerable<object[]> Cases() =>
        from choice in new[] { AcceleratorChoice.Cpu, AcceleratorChoice.Cuda, AcceleratorChoice.OpenCL }
        from version in Enum.GetValues<ConvVersion>()
        from shape in new[] { new[] { 3, 5, 7, 11, 13, 3 }, new[] { 2, 1, 6, 9, 7, 4 }, new[] { 5, 6, 1, 8, 10, 1 }, new[] { 4, 3, 9, 14, 12, 5 }, new[] { 2, 2, 3, 5, 37, 3 } }
        select new object[] { choice, version, shape };

    /// <summary>
    /// Runs <paramref name="body"/> with the device's convolutions in <paramref name="version"/> and the weight
    /// gradients in v2 beside conv v4, v1 beside the others (so both weight-gradient versions are tested too).
    /// Skips a version that cannot run here, with the reason.
    /// </summary>
    static void WithVersion(ComputeDevice device, ConvVersion version, int[] shape, Action body)
    {
        var s = new ConvShape(shape[0], shape[1], shape[2], shape[3] + 2 * (shape[5] - 1), shape[4] + 2 * (shape[5] - 1), shape[5]);
        Skip.IfNot(device.Ops.ConvFits(s, version),
            $"conv v{(int)version} does not run at {s} on the {device.Type} accelerator ({device.Accelerator.MaxNumThreadsPerGroup}-thread groups); the dispatcher uses v2 there");
        device.Ops.ConvOverride = version;
        device.Ops.WeightGradOverride = version == ConvVersion.Rows ? WeightGradVersion.Rows : WeightGradVersion.Tiled;
        try { body(); }
        finally { device.Ops.ConvOverride = null; device.Ops.WeightGradOverride = null; }
    }

    static ParameterStore Store(ComputeDevice device, IEnumerable<(string, int[])> specs, Random rng, out Dictionary<string, double[]> values)
    {
        var store = new ParameterStore(device, specs);
        values = store.Parameters.ToDictionary(p => p.Name, p => Representable(Random(rng, p.Length)));
        store.Load(values.ToDictionary(kv => kv.Key, kv => ToFloat(kv.Value)));
        return store;
    }

    [SkippableTheory, MemberData(nameof(Cases))]
    public void Conv2dForwardAndBackwardMatchReference(AcceleratorChoice choice, ConvVersion version, int[] shape)
    {
        var device = TestDevices.Get(choice);
        WithVersion(device, version, shape, () => Conv2dCase(device, shape));
    }

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
    public void ConvTranspose2dForwardAndBackwardMatchReference(AcceleratorChoice choice, ConvVersion version, int[] shape)
    {
        var device = TestDevices.Get(choice);
        WithVersion(device, version, shape, () => ConvTranspose2dCase(device, shape));
    }

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
        using var sigmoid = new ConvTranspose2d(store, "s", co, 2, k, Activation.Sigmoid);
        var x = Representable(Random(rng, b * ci * h * w));
        using var xt = Upload(device, x, b, ci, h, w);

        var h1 = relu.Forward(xt);
        var rh1 = ReferenceOps.Relu(ReferenceOps.Conv2d(x, p["r.weight"], p["r.bias"], b, ci, co, h, w, k));
        Assert.Contains(rh1, v => v == 0);
        AssertClose(h1.ToArray(), rh1, "conv2d + relu");
        var y = sigmoid.Forward(h1);
        var ry = ReferenceOps.Sigmoid(ReferenceOps.ConvTranspose2d(rh1, p["s.weight"], p["s.bias"], b, co, 2, h - k + 1, w - k + 1, k));
        AssertClose(y.ToArray(), ry, "convtranspose2d + sigmoid");

        // The input gradient of the second layer masked by the first layer's ReLU: ReLU's backward, fused.
        var dy = Representable(Random(rng, y.Length));
        using var dyt = Upload(device, dy, y.Shape);
        var dh1 = sigmoid.Backward(dyt, needInputGrad: true, inputReluOutput: h1)!;
        var (rdh1, _, _) = ReferenceOps.ConvTranspose2dBackward(rh1, p["s.weight"], dy, b, co, 2, h - k + 1, w - k + 1, k);
        AssertClose(dh1.ToArray(), ReferenceOps.ReluBackward(rh1, rdh1), "relu backward (fused mask)");
    }

    [SkippableTheory, MemberData(nameof(TestDevices.All), MemberType = typeof(TestDevices))]
    public void PadAndFlipTransposeAreExact(AcceleratorChoice choice)
    {
        var device = TestDevices.Get(choice);
        var rng = new Random(3);
        var x = Representable(Random(rng, 2 * 3 * 5 * 4));
        using var xt = Upload(device, x, 6, 5, 4);
        using var padded = Poisoned(device, 6, 9, 8);
        device.Ops.Pad(xt.View, 6, 5, 4, 2, padded.View);
        var pd = padded.ToArray();
        for (int pl = 0; pl < 6; pl++)
            for (int r = 0; r < 9; r++)
                for (int c = 0; c < 8; c++)
                {
                    bool inside = r >= 2 && r < 7 && c >= 2 && c < 6;
                    Assert.Equal(inside ? (float)x[(pl * 5 + r - 2) * 4 + c - 2] : 0f, pd[(pl * 9 + r) * 8 + c]);
                }

        var wt = Representable(Random(rng, 3 * 2 * 4 * 4));
        using var wtt = Upload(device, wt, 3, 2, 4, 4);
        using var flipped = Poisoned(device, 2, 3, 4, 4);
        device.Ops.FlipTranspose(wtt.View, 3, 2, 4, flipped.View);
        var f = flipped.ToArray();
        for (int q = 0; q < 2; q++)
            for (int pp = 0; pp < 3; pp++)
                for (int u = 0; u < 4; u++)
                    for (int v = 0; v < 4; v++)
                        Assert.Equal((float)wt[((pp * 2 + q) * 4 + 3 - u) * 4 + 3 - v], f[((q * 3 + pp) * 4 + u) * 4 + v]);
    }
}
