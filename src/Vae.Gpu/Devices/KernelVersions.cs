using Vae.Gpu.Kernels;

namespace Vae.Gpu.Devices;

/// <summary>
/// Which version of each kernel family runs a call on one accelerator: a forced version (tests, <c>check</c>,
/// the lab), else a tuned choice for that exact call (<see cref="TunedVersions"/>, from <c>vae-gpu tune</c>), else
/// the profile's default; a version the family's rule says cannot run the call gives way to the family's fallback.
/// </summary>
public sealed class KernelVersions
{
    readonly DeviceProfile _profile;
    readonly DeviceLimits _limits;
    ConvVersion? _conv;
    WeightGradVersion? _weightGrad;
    GemmVersion? _gemm;

    internal KernelVersions(DeviceProfile profile, DeviceLimits limits)
    {
        _profile = profile;
        _limits = limits;
    }

    /// <summary>The tuned choices in use, or null for the profile's defaults.</summary>
    public TunedVersions? Tuned { get; set; }

    /// <summary>One line for the user: <c>kernel versions: tuned on DATE</c> or <c>kernel versions: profile defaults</c>.</summary>
    public string Source => Tuned is null ? "kernel versions: profile defaults" : $"kernel versions: tuned on {Tuned.Date:yyyy-MM-dd}";

    public DeviceLimits Limits => _limits;

    public ConvVersion Conv(ConvCall c) => Runnable(_conv ?? Find<ConvVersion>(ConvFamily.Name, c) ?? DefaultConv(c), c);
    public WeightGradVersion WeightGrad(WeightGradCall c) => Runnable(_weightGrad ?? Find<WeightGradVersion>(WeightGradFamily.Name, c) ?? DefaultWeightGrad(c), c);
    public GemmVersion Gemm(GemmCall c) => Runnable(_gemm ?? Find<GemmVersion>(GemmFamily.Name, c) ?? DefaultGemm(c), c);

    /// <summary>The profile's choice, before tuning and forcing (what a tuned choice is measured against).</summary>
    public ConvVersion DefaultConv(ConvCall c) => Runnable(_profile.Conv, c);
    public WeightGradVersion DefaultWeightGrad(WeightGradCall c) => Runnable(_profile.WeightGrad, c);
    public GemmVersion DefaultGemm(GemmCall c) => Runnable(GemmFamily.Default(_profile.Gemm, c.Shape), c);

    ConvVersion Runnable(ConvVersion v, ConvCall c) => ConvFamily.WhyNot(v, c.Shape, _limits) is null ? v : ConvFamily.Fallback;
    WeightGradVersion Runnable(WeightGradVersion v, WeightGradCall c) => WeightGradFamily.WhyNot(v, c.Shape, _limits) is null ? v : WeightGradFamily.Fallback;
    GemmVersion Runnable(GemmVersion v, GemmCall c) => GemmFamily.WhyNot(v, c.Shape, _limits) is null ? v : GemmFamily.Fallback;

    T? Find<T>(string family, object call) where T : struct, Enum =>
        Tuned?.Find(family, call) is { } v && Enum.IsDefined(typeof(T), v) ? (T)Enum.ToObject(typeof(T), v) : null;

    /// <summary>Runs every call of one family with <paramref name="version"/> until the result is disposed.</summary>
    public IDisposable Force<T>(T version) where T : struct, Enum
    {
        switch (version)
        {
            case ConvVersion v: _conv = v; return new Undo(() => _conv = null);
            case WeightGradVersion v: _weightGrad = v; return new Undo(() => _weightGrad = null);
            case GemmVersion v: _gemm = v; return new Undo(() => _gemm = null);
            default: throw new ArgumentException($"{typeof(T).Name} is not a kernel family's version");
        }
    }

    sealed class Undo(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }
}
