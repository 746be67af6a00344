using Vae.Gpu.Devices;
using Vae.Gpu.Kernels;

namespace Vae.Gpu.Model;

/// <summary>
/// The model's hyperparameters. The problem set's model is (c1, c2, lat, k) on 28x28 gray images; the seed
/// notebook's is a list of conv channels (<see cref="Channels"/>) on images of any size and 1 or 3 channels.
/// </summary>
public sealed record VaeConfig(int C1 = 16, int C2 = 32, int Latent = 16, int Kernel = 3, KlKind Kl = KlKind.Seed)
{
    /// <summary>The problem set's image side.</summary>
    public const int ImageSide = 28;
    public const int MaxChannels = 1024, MaxDepth = 16;

    /// <summary>The conv layers' output channels, first layer first, when the model is defined by a list (the
    /// notebook's <c>VAE(channels, lat, kernel)</c>): its tensors take the notebook's module names. Null for the
    /// problem set's (c1, c2) model and names.</summary>
    public IReadOnlyList<int>? Channels { get; init; }

    /// <summary>The images' channels (1 gray, 3 RGB), height and width.</summary>
    public int ImageChannels { get; init; } = 1;
    public int Height { get; init; } = ImageSide;
    public int Width { get; init; } = ImageSide;

    /// <summary>A model defined by a channel list, as the notebook's <c>VAE(channels, lat, kernel)</c>.</summary>
    public static VaeConfig FromChannels(IReadOnlyList<int> channels, int latent, int kernel = 3, KlKind kl = KlKind.Seed,
        int imageChannels = 1, int height = ImageSide, int width = ImageSide)
    {
        if (channels.Count == 0) throw new VaeException("«Channels» is empty; give at least one conv layer's channels, e.g. 4,32,64,64,64");
        return new VaeConfig(channels[0], channels[^1], latent, kernel, kl)
        {
            Channels = channels.ToArray(), ImageChannels = imageChannels, Height = height, Width = width,
        };
    }

    /// <summary>The same model on images of another shape (what the data gives).</summary>
    public VaeConfig ForImages(int channels, int height, int width) => this with { ImageChannels = channels, Height = height, Width = width };

    /// <summary>True when the tensors take the notebook's module names (encoder.convs.{i}, decoder.l1, decoder.convs.{j}).</summary>
    public bool NotebookNames => Channels is not null;

    /// <summary>Every conv layer's output channels, first layer first: [c1, c2] for the problem set's model.</summary>
    public IReadOnlyList<int> ConvChannels => Channels ?? new[] { C1, C2 };

    /// <summary>The encoder's channels from the image to the last conv layer: c_0 = the image's, then <see cref="ConvChannels"/>.</summary>
    public IReadOnlyList<int> AllChannels => new[] { ImageChannels }.Concat(ConvChannels).ToArray();

    public int Depth => ConvChannels.Count;

    /// <summary>Size of the feature map after the conv layers: H - N(k - 1) by W - N(k - 1).</summary>
    public int FeatureHeight => Height - Depth * (Kernel - 1);
    public int FeatureWidth => Width - Depth * (Kernel - 1);
    public int FeatureChannels => ConvChannels[^1];

    /// <summary>Input size of the linear heads: c_N (H - N(k - 1)) (W - N(k - 1)).</summary>
    public int Features => FeatureChannels * FeatureHeight * FeatureWidth;

    /// <summary>Values per image: C H W.</summary>
    public int Pixels => ImageChannels * Height * Width;

    /// <summary>The smallest image side the layers leave at least 1x1 of.</summary>
    public int SmallestSide => Depth * (Kernel - 1) + 1;

    /// <summary>Layer i's input side (height, width): i = 0 is the image, i = N the feature map.</summary>
    public (int Height, int Width) SideAt(int layer) => (Height - layer * (Kernel - 1), Width - layer * (Kernel - 1));

    /// <summary>"c1=16 c2=32 latent=16 kernel=3" or "channels=4,32,64 latent=16 kernel=3", with the image when not 28x28 gray.</summary>
    public string Describe() =>
        (NotebookNames ? $"channels={string.Join(",", ConvChannels)}" : $"c1={C1} c2={C2}") + $" latent={Latent} kernel={Kernel}"
        + (ImageChannels == 1 && Height == ImageSide && Width == ImageSide ? "" : $" image={ImageChannels}x{Height}x{Width}");

    /// <summary>Throws a <see cref="VaeException"/> naming the first bad value and its allowed range.</summary>
    public VaeConfig Validate()
    {
        if (NotebookNames)
        {
            if (Channels!.Count is 0 or > MaxDepth)
                throw new VaeException($"«Channels» has {Channels.Count} layers; use 1..{MaxDepth}");
            for (int i = 0; i < Channels.Count; i++)
                if (Channels[i] < 1 || Channels[i] > MaxChannels)
                    throw new VaeException($"«Channels» entry {i + 1} is {Channels[i]}; each layer needs 1..{MaxChannels} channels");
        }
        else
        {
            Check(C1, "«C1»", 1, MaxChannels);
            Check(C2, "«C2»", 1, MaxChannels);
        }
        Check(Latent, "«Latent»", 2, 4096); // the analysis needs two dimensions to plot
        Check(Kernel, "«Kernel»", 1, 64);
        if (ImageChannels is not (1 or 3))
            throw new VaeException($"images with {ImageChannels} channels are not supported; use gray (1) or RGB (3) images");
        if (Height < 1 || Width < 1 || Height > 4096 || Width > 4096)
            throw new VaeException($"images of {Height}x{Width} are not supported; use 1..4096 pixels a side");
        if (FeatureHeight < 1 || FeatureWidth < 1)
            throw new VaeException(
                $"{Height}x{Width} images are too small for {Depth} {Kernel}x{Kernel} convolutions, which need at least {SmallestSide}x{SmallestSide}; " +
                "use larger images, fewer layers or a smaller «Kernel»");
        return this;
    }

    static void Check(int value, string name, int min, int max)
    {
        if (value < min || value > max)
            throw new VaeException($"{name} {value} is out of range; use {min}..{max}");
    }

    public bool Equals(VaeConfig? other) =>
        other is not null && (C1, C2, Latent, Kernel, Kl, ImageChannels, Height, Width) == (other.C1, other.C2, other.Latent, other.Kernel, other.Kl, other.ImageChannels, other.Height, other.Width)
        && (Channels is null ? other.Channels is null : other.Channels is not null && Channels.SequenceEqual(other.Channels));

    public override int GetHashCode() => HashCode.Combine(C1, C2, Latent, Kernel, Kl, ImageChannels, Height, Width);

    /// <summary>"4,32,64,64,64" -> the conv channels; a one-line error for anything else.</summary>
    public static int[] ParseChannels(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        if (text.Trim().Length == 0) throw new VaeException("«Channels» is empty; give the conv layers' output channels, e.g. 4,32,64,64,64");
        var channels = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out channels[i]) || channels[i] < 1 || channels[i] > MaxChannels)
                throw new VaeException($"«Channels» '{text}': entry {i + 1} ('{parts[i]}') is not a whole number 1..{MaxChannels}; give a comma-separated list such as 4,32,64,64,64");
        return channels;
    }

    /// <summary>"1x48x48" or "3x32x32" (channels x height x width) -> the image shape.</summary>
    public static (int Channels, int Height, int Width) ParseImage(string text)
    {
        var parts = text.ToLowerInvariant().Split('x');
        if (parts.Length == 3 && parts.All(p => int.TryParse(p, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int v) && v >= 1))
            return (int.Parse(parts[0]), int.Parse(parts[1]), int.Parse(parts[2]));
        throw new VaeException($"«Image» '{text}' is not channels x height x width such as 1x48x48 or 3x32x32");
    }

    public static KlKind ParseKl(string text) => text.ToLowerInvariant() switch
    {
        "seed" => KlKind.Seed,
        "standard" => KlKind.Standard,
        _ => throw new VaeException($"«Kl» '{text}' is unknown; use seed (the problem set's formula) or standard (the textbook KL)"),
    };

    public static string KlName(KlKind kind) => kind == KlKind.Seed ? "seed" : "standard";
}
