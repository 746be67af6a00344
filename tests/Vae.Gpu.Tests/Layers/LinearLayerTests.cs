using Vae.Gpu.Devices;
using Vae.Gpu.Kernels.Reference;
using Vae.Gpu.Layers;
using static Vae.Gpu.Tests.Numeric;

namespace Vae.Gpu.Tests.Layers;

/// <summary>
/// Linear (with and without split-K) against the oracle, with the GEMM version dispatch picks; every GEMM version
/// runs the same products in <see cref="Kernels.KernelFamilyTests"/>.
/// </summary>
public class LinearLayerTests
{
    public static IEnumerable<object[]> Cases() =>
        from choice in new[] { AcceleratorChoice.Cpu, AcceleratorChoice.Cuda, AcceleratorChoice.OpenCL }
        from shape in new[] { new[] { 5, 37, 11 }, new[] { 17, 33, 15 }, new[] { 6, 3000, 7 }, new[] { 9, 5, 2000 } }
        select new object[] { choice, shape };

    [SkippableTheory, MemberData(nameof(Cases))]
    public void ForwardAndBackwardMatchReference(AcceleratorChoice choice, int[] shape)
    {
        var device = TestDevices.Get(choice);
        int b = shape[0], inF = shape[1], outF = shape[2];
        var rng = new Random(shape.Sum());
        using var store = new ParameterStore(device, Linear.Specs("l", inF, outF));
        var w = Representable(Random(rng, outF * inF));
        var bias = Representable(Random(rng, outF));
        store.Load(new Dictionary<string, float[]> { ["l.weight"] = ToFloat(w), ["l.bias"] = ToFloat(bias) });
        using var layer = new Linear(store, "l", inF, outF, Activation.None);
        var x = Representable(Random(rng, b * inF));
        using var xt = Upload(device, x, b, inF);

        AssertClose(layer.Forward(xt).ToArray(), ReferenceOps.Linear(x, w, bias, b, inF, outF), "linear forward");

        var dy = Representable(Random(rng, b * outF));
        using var dyt = Upload(device, dy, b, outF);
        store.Grads.Poison();
        var dx = layer.Backward(dyt)!;
        var (rdx, rdw, rdb) = ReferenceOps.LinearBackward(x, w, dy, b, inF, outF);
        AssertClose(dx.ToArray(), rdx, "linear dx");
        AssertClose(layer.Weight.Grad.ToArray(), rdw, "linear dw");
        AssertClose(layer.Bias.Grad.ToArray(), rdb, "linear db");

        // After a ReLU: the input gradient masked by the input the layer keeps (ReLU's backward, fused).
        using var afterRelu = new Linear(store, "l", inF, outF, Activation.None, inputActivation: Activation.Relu);
        afterRelu.Forward(xt);
        var masked = afterRelu.Backward(dyt)!;
        Assert.Contains(x, v => v <= 0);
        AssertClose(masked.ToArray(), ReferenceOps.ReluBackward(x, rdx), "linear dx through the input's ReLU");
    }
}
