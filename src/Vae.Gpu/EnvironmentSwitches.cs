namespace Vae.Gpu;

/// <summary>
/// Every environment variable the library reads, in one place (docs/cli.md's "Environment variables" table lists the same).
/// The kernel switches are for experiments; a run that uses one says so through <c>bench</c>'s profile line.
/// </summary>
public static class EnvironmentSwitches
{
    /// <summary>VAE_CONV=N: the convolution version a profile prefers (a tuned choice still wins).</summary>
    public const string Conv = "VAE_CONV";
    /// <summary>VAE_GEMM=N: the GEMM version a profile prefers.</summary>
    public const string Gemm = "VAE_GEMM";
    /// <summary>VAE_WGRAD=N: the weight-gradient version a profile prefers.</summary>
    public const string WeightGrad = "VAE_WGRAD";
    /// <summary>VAE_GROUP=N: work-items per group of the implicitly grouped kernels (0: ILGPU chooses).</summary>
    public const string GroupSize = "VAE_GROUP";
    /// <summary>VAE_TARGET=N: threads a launch offers (sets split-K and batch chunks).</summary>
    public const string TargetThreads = "VAE_TARGET";
    /// <summary>VAE_CPU_DEVICE=warp,warps,multiprocessors: the shape of ILGPU's CPU accelerator.</summary>
    public const string CpuDevice = "VAE_CPU_DEVICE";
    /// <summary>VAE_GPU_NO_TUNE=1: never read or write the tuning cache (every run uses the profile's defaults).</summary>
    public const string NoTune = "VAE_GPU_NO_TUNE";
    /// <summary>VAE_GPU_POCL_512=0: PoCL builds kernels with its 256-bit vector preference even where the CPU has AVX-512
    /// (<see cref="Devices.PoclWideVectors"/>).</summary>
    public const string PoclWide = "VAE_GPU_POCL_512";
    /// <summary>VAE_GPU_DEBUG=1: an unexpected error prints its whole exception, not one line.</summary>
    public const string Debug = "VAE_GPU_DEBUG";
    /// <summary>VAE_GPU_TEST_CRASH_AT=STEP: tests only; the process kills itself at that step of a save.</summary>
    public const string TestCrashAt = "VAE_GPU_TEST_CRASH_AT";
    /// <summary>VAE_GPU_PTXAS=PATH: NVIDIA's PTX assembler for <c>vae-gpu ptx</c> (scripts/get-ptxas fetches one).</summary>
    public const string Ptxas = "VAE_GPU_PTXAS";
    /// <summary>VAE_GPU_REQUIRE_PTXAS=1: CI; the ptxas test fails instead of skipping where no ptxas is found.</summary>
    public const string RequirePtxas = "VAE_GPU_REQUIRE_PTXAS";
    /// <summary>VAE_GPU_TEST_HOLD_AT=STEP: tests only; the process waits for a line on stdin at that step ("before lock").</summary>
    public const string TestHoldAt = "VAE_GPU_TEST_HOLD_AT";
    /// <summary>FASHION_MNIST_DIR: the data folder when --data is not given.</summary>
    public const string DataDir = "FASHION_MNIST_DIR";
    /// <summary>XDG_CACHE_HOME: the tuning cache lives in $XDG_CACHE_HOME/vae-gpu (else ~/.cache/vae-gpu).</summary>
    public const string CacheHome = "XDG_CACHE_HOME";

    public static string? Text(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;

    /// <summary>A switch: 1, true or yes turn it on; 0, false, no or unset leave it off; anything else is a
    /// <see cref="Devices.VaeException"/> naming the variable.</summary>
    public static bool Flag(string name) => Text(name)?.Trim().ToLowerInvariant() switch
    {
        null => false,
        "1" or "true" or "yes" => true,
        "0" or "false" or "no" => false,
        _ => throw new Devices.VaeException($"{name}={Text(name)} is not a switch; set it to 1, true or yes to turn it on, or to 0, false or no (or unset it) to leave it off"),
    };

    /// <summary>The variable as a whole number in <paramref name="min"/>..<paramref name="max"/>; null when unset,
    /// a <see cref="Devices.VaeException"/> naming it when it is anything else.</summary>
    public static int? Int(string name, int min, int max = int.MaxValue, string? why = null)
    {
        if (Text(name) is not { } text) return null;
        if (int.TryParse(text.Trim(), out int v) && v >= min && v <= max) return v;
        throw new Devices.VaeException($"{name}={text} is not a whole number in {min}..{(max == int.MaxValue ? "" : max)}{why}; set it to one, or unset it");
    }

    /// <summary>The variable as a version of <paramref name="family"/>, by number; null when unset, a
    /// <see cref="Devices.VaeException"/> listing the versions when it names none.</summary>
    public static T? Version<T>(string name, string family) where T : struct, Enum
    {
        if (Text(name) is not { } text) return null;
        if (int.TryParse(text.Trim(), out int v) && Enum.IsDefined(typeof(T), v)) return (T)Enum.ToObject(typeof(T), v);
        var versions = string.Join(", ", Enum.GetValues<T>().Select(e => $"{Convert.ToInt32(e)} {e}"));
        throw new Devices.VaeException($"{name}={text} is not a {family} version; use one of {versions}, or unset it");
    }
}
