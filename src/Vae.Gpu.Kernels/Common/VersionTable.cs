using System.Reflection;
using ILGPU;
using ILGPU.Runtime;

namespace Vae.Gpu.Kernels;

/// <summary>What a family's version is, beyond its kernel and its rule.</summary>
[Flags]
public enum VersionTraits
{
    None = 0,
    /// <summary>Keeps a private accumulator array per work-item, which a GPU places in local memory: GPUs never run it.</summary>
    CpuShaped = 1,
    /// <summary>A convolution that reads its input's border of zeros in place (no Pad launch).</summary>
    FoldsPad = 2,
    /// <summary>A convolution that reads the flipped weight in place (no FlipTranspose launch).</summary>
    FoldsFlip = 4,
    FoldsPadAndFlip = FoldsPad | FoldsFlip,
}

/// <summary>A version as every tool sees it, whatever its family: the lab, check, tune, the PTX rules and the tests.</summary>
public interface IVersionRow
{
    string Family { get; }
    int Number { get; }
    string Name { get; }
    string Description { get; }
    VersionTraits Traits { get; }
    /// <summary>The kernel method; its name is the version's.</summary>
    MethodInfo Method { get; }
    /// <summary>Launched with an explicit <see cref="KernelConfig"/> (groups, shared memory, barriers).</summary>
    bool ExplicitlyGrouped { get; }
}

/// <summary>
/// One version of a kernel family, declared once in its family's table: the kernel method, a one-line
/// description, its traits, the rule that says where it cannot run (beyond the one every CPU-shaped version
/// shares), and its launch sizing. Everything else about the version is derived from this row.
/// </summary>
/// <typeparam name="TVersion">the family's version enum; a member's name is its kernel method's.</typeparam>
/// <typeparam name="TShape">what the rule looks at.</typeparam>
/// <typeparam name="TArgs">the family's kernel arguments, one struct for every version.</typeparam>
public sealed class VersionRow<TVersion, TShape, TArgs> : IVersionRow where TVersion : struct, Enum where TArgs : struct
{
    readonly Action<Index1D, int, TArgs>? _stream;
    readonly Action<TArgs>? _grouped;
    readonly Func<TArgs, KernelConfig>? _config;
    readonly Func<TShape, DeviceLimits, string?>? _rule;

    VersionRow(string family, TVersion version, Delegate kernel, Action<Index1D, int, TArgs>? stream, Action<TArgs>? grouped,
        Func<TArgs, KernelConfig>? config, Func<TArgs, long> work, string description, VersionTraits traits, Func<TShape, DeviceLimits, string?>? rule)
    {
        Family = family;
        Version = version;
        Method = kernel.Method;
        _stream = stream;
        _grouped = grouped;
        _config = config;
        Work = work;
        Description = description;
        Traits = traits;
        _rule = rule;
    }

    /// <summary>A grid-stride (implicitly grouped) version: <c>kernel(index, stride, args)</c> over <paramref name="work"/> items.</summary>
    public static VersionRow<TVersion, TShape, TArgs> Stream(string family, TVersion version, Action<Index1D, int, TArgs> kernel,
        Func<TArgs, long> work, string description, VersionTraits traits = VersionTraits.None, Func<TShape, DeviceLimits, string?>? rule = null) =>
        new(family, version, kernel, kernel, null, null, work, description, traits, rule);

    /// <summary>An explicitly grouped version launched with <paramref name="config"/>; <paramref name="work"/> is what
    /// the family's split sizing counts for it.</summary>
    public static VersionRow<TVersion, TShape, TArgs> Grouped(string family, TVersion version, Action<TArgs> kernel, Func<TArgs, KernelConfig> config,
        Func<TArgs, long> work, string description, VersionTraits traits = VersionTraits.None, Func<TShape, DeviceLimits, string?>? rule = null) =>
        new(family, version, kernel, null, kernel, config, work, description, traits, rule);

    public string Family { get; }
    public TVersion Version { get; }
    public int Number => Convert.ToInt32(Version);
    public string Name => Version.ToString();
    public string Description { get; }
    public VersionTraits Traits { get; }
    public MethodInfo Method { get; }
    public bool ExplicitlyGrouped => _grouped is not null;
    public bool CpuShaped => Traits.HasFlag(VersionTraits.CpuShaped);

    /// <summary>The items of work a launch with these arguments covers (a grid-stride launch's threads before the
    /// accelerator's cap; what split sizing counts).</summary>
    public Func<TArgs, long> Work { get; }

    /// <summary>Why this version cannot run at shape <paramref name="s"/> on an accelerator with <paramref name="limits"/>; null when it can.</summary>
    public string? WhyNot(TShape s, DeviceLimits limits) =>
        limits.IsGpu && CpuShaped ? DeviceLimits.CpuShapedReason : _rule?.Invoke(s, limits);

    /// <summary>Launches the kernel: a grid-stride one over <paramref name="work"/> items, a grouped one with its configuration.</summary>
    public void Launch(KernelRunner r, TArgs args, long work)
    {
        if (_stream is not null)
        {
            int n = r.Threads(work);
            r.Stream(_stream)(n, n, args);
        }
        else r.Grouped(_grouped!)(_config!(args), args);
    }
}

/// <summary>A family's table of versions, one row each, with what is derived from it.</summary>
public sealed class VersionTable<TVersion, TShape, TArgs> where TVersion : struct, Enum where TArgs : struct
{
    readonly Dictionary<TVersion, VersionRow<TVersion, TShape, TArgs>> _byVersion;

    public VersionTable(string family, IReadOnlyList<VersionRow<TVersion, TShape, TArgs>> rows)
    {
        Family = family;
        Rows = rows;
        _byVersion = rows.ToDictionary(r => r.Version);
    }

    public string Family { get; }
    public IReadOnlyList<VersionRow<TVersion, TShape, TArgs>> Rows { get; }

    public VersionRow<TVersion, TShape, TArgs> this[TVersion version] =>
        _byVersion.TryGetValue(version, out var row) ? row : throw new ArgumentOutOfRangeException(nameof(version), version, $"{Family} has no version {version}");

    /// <summary>Whether the table has a row for <paramref name="version"/>.</summary>
    public bool Has(TVersion version) => _byVersion.ContainsKey(version);
}
