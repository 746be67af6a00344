using System.Runtime.InteropServices;

namespace Vae.Gpu.Devices;

/// <summary>
/// Lets PoCL compile 512-bit vector code on AVX-512 CPUs. PoCL builds kernels for LLVM's <c>skylake-avx512</c>
/// target there (Debian's "distro" kernel libraries), whose tuning prefers 256-bit vectors: a loop of 16 lanes
/// becomes two 256-bit halves, half of what a CPU that executes 512-bit FMAs at full width can do (Zen 5,
/// Xeons with two 512-bit FMA units). PoCL passes only <c>-cl-*</c>, <c>-D</c>, <c>-I</c> and <c>-g</c> from
/// <c>POCL_EXTRA_BUILD_FLAGS</c> to its compiler, and no option to its target; so a <c>-D</c> macro turns
/// ILGPU's <c>kernel</c> qualifier into one that also carries <c>__attribute__((target("tune=znver4")))</c>,
/// a tuning without the 256-bit preference (PoCL strips double quotes from options, so the string is made by
/// the preprocessor's <c>#</c>). The instruction set stays the device's own; only the preferred width changes.
/// An LLVM too old to know the tuning warns and ignores the attribute, leaving the code as it was.
/// Which kernel versions use the wider vectors is the profile's and the tuner's choice
/// (<see cref="DeviceProfile"/>); <c>vae-gpu bench</c>'s peak probe shows what each width reaches.
/// </summary>
public static class PoclWideVectors
{
    /// <summary>The variable PoCL reads its extra build options from, at every build.</summary>
    public const string BuildFlagsVariable = "POCL_EXTRA_BUILD_FLAGS";

    /// <summary>The options added: a stringizing macro and the <c>kernel</c> qualifier with the tuning attribute.</summary>
    public const string Flags = "-DVAE_GPU_QUOTE(x)=#x -Dkernel=__attribute__((target(VAE_GPU_QUOTE(tune=znver4))))kernel";

    /// <summary>Whether this process asks PoCL for 512-bit vectors: an x64 Linux CPU with AVX-512F, unless
    /// <c>VAE_GPU_POCL_512=0</c>.</summary>
    public static bool Wanted =>
        OperatingSystem.IsLinux() && System.Runtime.Intrinsics.X86.Avx512F.IsSupported
        && (EnvironmentSwitches.Text(EnvironmentSwitches.PoclWide) is null || EnvironmentSwitches.Flag(EnvironmentSwitches.PoclWide));

    /// <summary>Whether the options are in the variable PoCL will read (set by <see cref="Apply"/> or by the user).</summary>
    public static bool Applied => NativeValue()?.Contains(Flags, StringComparison.Ordinal) == true;

    /// <summary>
    /// Adds <see cref="Flags"/> to the process's <c>POCL_EXTRA_BUILD_FLAGS</c> after whatever the user set there,
    /// once, where <see cref="Wanted"/>; before the first kernel is built. The native environment is written
    /// because PoCL reads it with getenv, which .NET's Environment.SetEnvironmentVariable does not reach on Linux.
    /// </summary>
    public static void Apply()
    {
        if (!Wanted || Applied) return;
        if (Compose(NativeValue()) is { } value && setenv(BuildFlagsVariable, value, 1) != 0)
            throw new VaeException($"could not set {BuildFlagsVariable} for PoCL's compiler; set VAE_GPU_POCL_512=0 to build 256-bit kernels instead");
    }

    /// <summary>The user's options followed by ours; null when ours are already there.</summary>
    public static string? Compose(string? existing) =>
        existing?.Contains(Flags, StringComparison.Ordinal) == true ? null
        : string.IsNullOrWhiteSpace(existing) ? Flags : existing.TrimEnd() + " " + Flags;

    static string? NativeValue() => OperatingSystem.IsLinux() ? Marshal.PtrToStringUTF8(getenv(BuildFlagsVariable)) : null;

    [DllImport("libc", CharSet = CharSet.Ansi)]
    static extern IntPtr getenv(string name);

    [DllImport("libc", CharSet = CharSet.Ansi)]
    static extern int setenv(string name, string value, int overwrite);
}
