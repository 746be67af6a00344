using Vae.Gpu.Devices;
using Vae.Gpu.Kernels;

namespace Vae.Gpu.Model;

/// <summary>The problem set's hyperparameters of the model, with its recommended defaults.</summary>
public sealed record VaeConfig(int C1 = 16, int C2 = 32, int Latent = 16, int Kernel = 3, KlKind Kl = KlKind.Seed)
{
    public const int ImageSide = 28;

    /// <summary>Side of the feature map after the two convolutions: d - 2(k - 1).</summary>
    public int FeatureSide => ImageSide - 2 * (Kernel - 1);

    /// <summary>Input size of the linear heads: c2 * (d - 2(k - 1))^2.</summary>
    public int Features => C2 * FeatureSide * FeatureSide;

    /// <summary>Throws a <see cref="VaeException"/> naming the first bad value and its allowed range.</summary>
    public VaeConfig Validate()
    {
        Check(C1, "«C1»", 1, 1024);
        Check(C2, "«C2»", 1, 1024);
        Check(Latent, "«Latent»", 2, 4096); // the analysis needs two dimensions to plot
        Check(Kernel, "«Kernel»", 1, 14);
        return this;
    }

    static void Check(int value, string name, int min, int max)
    {
        if (value < min || value > max)
            throw new VaeException(name == "«Kernel»"
                ? $"{name} {value} is out of range: two {value}x{value} convolutions must leave at least 1x1 of a {ImageSide}x{ImageSide} image, so use 1..{max}"
                : $"{name} {value} is out of range; use {min}..{max}");
    }

    public static KlKind ParseKl(string text) => text.ToLowerInvariant() switch
    {
        "seed" => KlKind.Seed,
        "standard" => KlKind.Standard,
        _ => throw new VaeException($"«Kl» '{text}' is unknown; use seed (the problem set's formula) or standard (the textbook KL)"),
    };

    public static string KlName(KlKind kind) => kind == KlKind.Seed ? "seed" : "standard";
}
