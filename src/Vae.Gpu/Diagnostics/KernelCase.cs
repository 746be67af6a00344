using Vae.Gpu.Devices;
using Vae.Gpu.Kernels;
using Vae.Gpu.Tensors;

namespace Vae.Gpu.Diagnostics;

/// <summary>
/// One call of a versioned kernel family (<see cref="ConvCall"/>, <see cref="WeightGradCall"/>, <see cref="GemmCall"/>)
/// as the tests, <c>vae-gpu check</c>, the kernel lab and <c>vae-gpu tune</c> all run it: every version the family
/// declares, the family's rule for where each cannot run, random inputs on a device, and the double-precision
/// reference. A new version is picked up from its enum: nothing here names one.
/// </summary>
public abstract class KernelCase
{
    public abstract string Family { get; }
    public abstract object Call { get; }
    public abstract IReadOnlyList<int> Versions { get; }
    public abstract string Describe(int version);
    /// <summary>The version's kernel method (its enum member's name).</summary>
    public abstract string Kernel(int version);
    public abstract string? WhyNot(int version, DeviceLimits limits);
    /// <summary>The version dispatch runs for this call now (forced, tuned or default).</summary>
    public abstract int Chosen(KernelVersions versions);
    /// <summary>The profile's version for this call, before tuning.</summary>
    public abstract int Default(KernelVersions versions);
    public abstract IDisposable Force(KernelVersions versions, int version);
    public abstract KernelCost Cost { get; }
    /// <summary>How close to the reference the call must come (<see cref="Tolerance.ForSums"/> of its reduction length).</summary>
    public abstract Tolerance Tolerance { get; }
    /// <summary>The same call on fewer images (the lab validates step-sized calls on a slice of the batch).</summary>
    public abstract KernelCase WithBatch(int batch);
    /// <summary>Random inputs for the call on the device (the same on every accelerator for the same generator).</summary>
    public abstract PreparedCall Prepare(ComputeDevice device, Random rng);

    public string Key => TunedVersions.Key(Family, Call);
    public override string ToString() => Key;
}

/// <summary>A <see cref="KernelCase"/> with its inputs on a device: <see cref="Run"/> launches the call.</summary>
public sealed class PreparedCall(Action run, Tensor output, Func<double[]> reference, IReadOnlyList<Tensor> owned) : IDisposable
{
    public void Run() => run();
    public float[] Result() => output.ToArray();
    /// <summary>What the call should produce, in double precision (computed on first use).</summary>
    public double[] Reference => _reference ??= reference();
    double[]? _reference;

    public void Dispose()
    {
        foreach (var t in owned) t.Dispose();
    }
}

/// <summary>What the three families' cases share: versions from the enum, forcing and choosing through <see cref="KernelVersions"/>.</summary>
public abstract class KernelCase<TVersion, TCall> : KernelCase where TVersion : struct, Enum where TCall : struct
{
    protected KernelCase(TCall call) => TypedCall = call;
    public TCall TypedCall { get; }
    public override object Call => TypedCall;
    public override IReadOnlyList<int> Versions => Enum.GetValues<TVersion>().Select(v => Convert.ToInt32(v)).ToList();
    protected static TVersion V(int version) => (TVersion)Enum.ToObject(typeof(TVersion), version);
    public override string Kernel(int version) => V(version).ToString();
    public override IDisposable Force(KernelVersions versions, int version) => versions.Force(V(version));

    protected static double[] Uniform(Random rng, int n, double lo = -1, double hi = 1) =>
        Enumerable.Range(0, n).Select(_ => (double)(float)(lo + (hi - lo) * rng.NextDouble())).ToArray();
    protected static Tensor Upload(ComputeDevice device, double[] values) =>
        Tensor.FromArray(device, Array.ConvertAll(values, v => (float)v), values.Length);

    /// <summary>
    /// A call of two operands with a fused epilogue (a convolution, a GEMM): random operands, bias, mask, and an
    /// output that starts random (what <see cref="EpilogueFlags.Accumulate"/> adds to, and what shows an unwritten element).
    /// </summary>
    protected static PreparedCall WithEpilogue(ComputeDevice device, Random rng, int lengthA, int lengthB, int biasLength, int outputLength,
        Action<Tensor, Tensor, Tensor, Tensor, Tensor> run, Func<double[], double[], double[], double[], double[], double[]> reference)
    {
        var a = Uniform(rng, lengthA);
        var b = Uniform(rng, lengthB);
        var bias = Uniform(rng, biasLength);
        var prior = Uniform(rng, outputLength);
        var mask = Uniform(rng, outputLength);
        var t = new[] { Upload(device, a), Upload(device, b), Upload(device, bias), Upload(device, mask), Upload(device, prior) };
        return new PreparedCall(() => run(t[0], t[1], t[2], t[3], t[4]), t[4], () => reference(a, b, bias, prior, mask), t);
    }
}

public sealed class ConvCase(ConvCall call) : KernelCase<ConvVersion, ConvCall>(call)
{
    public override string Family => ConvFamily.Name;
    public override string Describe(int version) => ConvFamily.Describe(V(version));
    public override string? WhyNot(int version, DeviceLimits limits) => ConvFamily.WhyNot(V(version), TypedCall.Shape, limits);
    public override int Chosen(KernelVersions versions) => (int)versions.Conv(TypedCall);
    public override int Default(KernelVersions versions) => (int)versions.DefaultConv(TypedCall);
    public override KernelCost Cost => ConvFamily.Cost(TypedCall);
    public override Tolerance Tolerance => Tolerance.ForSums(TypedCall.Shape.InChannels * TypedCall.Shape.Kernel * TypedCall.Shape.Kernel);

    public override KernelCase WithBatch(int batch)
    {
        var s = TypedCall.Shape;
        return new ConvCase(TypedCall with { Shape = new ConvShape(Math.Min(batch, s.Batch), s.InChannels, s.OutChannels, s.InHeight, s.InWidth, s.Kernel) });
    }

    public override PreparedCall Prepare(ComputeDevice device, Random rng)
    {
        var c = TypedCall;
        return WithEpilogue(device, rng, c.StoredInputLength, c.Shape.WeightLength, c.Shape.OutChannels, c.Shape.OutputLength,
            (x, w, bias, mask, y) => device.Ops.Conv(c, x.View, w.View, bias.View, mask.View, y.View),
            (x, w, bias, prior, mask) => Kernels.Reference.ReferenceCalls.Conv(c, x, w, bias, prior, mask));
    }
}

public sealed class WeightGradCase(WeightGradCall call) : KernelCase<WeightGradVersion, WeightGradCall>(call)
{
    public override string Family => WeightGradFamily.Name;
    public override string Describe(int version) => WeightGradFamily.Describe(V(version));
    public override string? WhyNot(int version, DeviceLimits limits) => WeightGradFamily.WhyNot(V(version), TypedCall.Shape, limits);
    public override int Chosen(KernelVersions versions) => (int)versions.WeightGrad(TypedCall);
    public override int Default(KernelVersions versions) => (int)versions.DefaultWeightGrad(TypedCall);
    public override KernelCost Cost => KernelCost.WeightGrad(TypedCall.Shape, 1);
    public override Tolerance Tolerance => Tolerance.ForSums((long)TypedCall.Shape.Batch * Math.Max(TypedCall.Shape.OutHeight * TypedCall.Shape.OutWidth, TypedCall.BiasPlane));

    public override KernelCase WithBatch(int batch)
    {
        var s = TypedCall.Shape;
        return new WeightGradCase(TypedCall with { Shape = new ConvShape(Math.Min(batch, s.Batch), s.InChannels, s.OutChannels, s.InHeight, s.InWidth, s.Kernel) });
    }

    public override PreparedCall Prepare(ComputeDevice device, Random rng)
    {
        var c = TypedCall;
        var g = Uniform(rng, c.Shape.OutputLength);
        var x = Uniform(rng, c.Shape.InputLength);
        var tensors = new[] { Upload(device, g), Upload(device, x), Tensor.Zeros(device, c.Length) };
        var (gt, xt, dw) = (tensors[0], tensors[1], tensors[2]);
        return new PreparedCall(() => device.Ops.ConvWeightGrad(c, gt.View, xt.View, dw.View), dw,
            () => Kernels.Reference.ReferenceCalls.WeightGrad(c, g, x), tensors);
    }
}

public sealed class GemmCase(GemmCall call) : KernelCase<GemmVersion, GemmCall>(call)
{
    public override string Family => GemmFamily.Name;
    public override string Describe(int version) => GemmFamily.Describe(V(version));
    public override string? WhyNot(int version, DeviceLimits limits) => GemmFamily.WhyNot(V(version), TypedCall.Shape, limits);
    public override int Chosen(KernelVersions versions) => (int)versions.Gemm(TypedCall);
    public override int Default(KernelVersions versions) => (int)versions.DefaultGemm(TypedCall);
    public override KernelCost Cost => KernelCost.Gemm(TypedCall.Shape, 1);
    public override Tolerance Tolerance => Tolerance.ForSums(TypedCall.Shape.K);

    // A GEMM's rows are not always the batch, and the step's products are small enough to check whole.
    public override KernelCase WithBatch(int batch) => this;

    public override PreparedCall Prepare(ComputeDevice device, Random rng)
    {
        var c = TypedCall;
        return WithEpilogue(device, rng, c.ALength, c.BLength, c.Shape.N, c.Shape.M * c.Shape.N,
            (a, b, bias, mask, y) => device.Ops.Gemm(c.Shape, a.View, b.View, bias.View, mask.View, c.Flags, y.View),
            (a, b, bias, prior, mask) => Kernels.Reference.ReferenceCalls.Gemm(c, a, b, bias, prior, mask));
    }
}
