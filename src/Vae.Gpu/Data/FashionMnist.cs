using System.Security.Cryptography;
using Vae.Gpu.Devices;

namespace Vae.Gpu.Data;

/// <summary>
/// Finds, validates and (when absent) downloads Fashion-MNIST: the official 60,000 / 10,000 split.
/// Search order: --data, $FASHION_MNIST_DIR, ./data/FashionMNIST/raw (torchvision's layout),
/// /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist); else download into the torchvision
/// folder from the official mirror with MD5 checks.
/// </summary>
public static class FashionMnist
{
    public const string Mirror = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/";
    public const string DebianDir = "/usr/share/datasets/fashion-mnist";
    const int VaeConfigSide = 28;

    /// <summary>Fashion-MNIST's ten classes, label 0 first.</summary>
    public static readonly IReadOnlyList<string> ClassNames =
        new[] { "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot" };
    public static readonly string TorchvisionDir = Path.Combine("data", "FashionMNIST", "raw");

    public static readonly IReadOnlyDictionary<string, string> Md5 = new Dictionary<string, string>
    {
        ["train-images-idx3-ubyte.gz"] = "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        ["train-labels-idx1-ubyte.gz"] = "25c81989df183df01b3e8a0aad5dffbe",
        ["t10k-images-idx3-ubyte.gz"] = "bef4ecab320f06d8554ea6380940ec79",
        ["t10k-labels-idx1-ubyte.gz"] = "bb300cfdad3c16e7a12a480ee83cd310",
    };

    static readonly string[] Stems = { "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte" };

    /// <summary>The folder that holds all four files (gzipped or not), by the search order; null if none.</summary>
    public static string? Find(string? dataDir)
    {
        if (dataDir is not null) return Required(dataDir, "«DataDir»", "point «DataDir» at a folder with all four Fashion-MNIST files");
        // A folder the user named in the environment is as binding as --data: a typo is an error, not a download.
        if (EnvironmentSwitches.Text(EnvironmentSwitches.DataDir) is { } named)
            return Required(named, "$FASHION_MNIST_DIR", "set FASHION_MNIST_DIR to a folder with all four Fashion-MNIST files, or unset it");
        var candidates = new[] { TorchvisionDir, DebianDir };
        return candidates.FirstOrDefault(d => !string.IsNullOrEmpty(d) && Directory.Exists(d) && Stems.All(s => FileIn(d!, s) is not null));
    }

    static string Required(string dir, string name, string fix)
    {
        if (!Directory.Exists(dir)) throw new VaeException($"{name} {dir}: no such directory; {fix}");
        var missing = Stems.Where(s => FileIn(dir, s) is null).ToList();
        if (missing.Count > 0)
            throw new VaeException($"{name} {dir} lacks {string.Join(", ", missing.Select(m => m + "[.gz]"))}; {fix}");
        return dir;
    }

    static string? FileIn(string dir, string stem) =>
        new[] { stem + ".gz", stem }.Select(n => Path.Combine(dir, n)).FirstOrDefault(File.Exists);

    /// <summary>Loads both splits, downloading first when no folder has them; validates their structure.</summary>
    public static (Split Train, Split Test) Load(string? dataDir, Action<string>? log = null, IProgress<(string File, long Done, long Total)>? progress = null)
    {
        var dir = Find(dataDir);
        if (dir is null)
        {
            log?.Invoke($"Fashion-MNIST not found; downloading it into {TorchvisionDir} from {Mirror}");
            dir = Download(TorchvisionDir, progress ?? (log is null ? null : new TenthsLog(log)));
        }
        log?.Invoke($"Data: {Path.GetFullPath(dir)}");
        var train = LoadSplit(dir, "train", 60_000);
        var test = LoadSplit(dir, "t10k", 10_000);
        return (train, test);
    }

    /// <summary>Reads one split and checks what the official data guarantees: counts, 28x28, labels that agree.</summary>
    public static Split LoadSplit(string dir, string prefix, int? expectedCount)
    {
        string imagesPath = FileIn(dir, $"{prefix}-images-idx3-ubyte") ?? throw new VaeException($"{dir} lacks {prefix}-images-idx3-ubyte[.gz]");
        string labelsPath = FileIn(dir, $"{prefix}-labels-idx1-ubyte") ?? throw new VaeException($"{dir} lacks {prefix}-labels-idx1-ubyte[.gz]");
        var images = Idx.ReadImages(imagesPath);
        var labels = Idx.ReadLabels(labelsPath, maxLabel: 9);
        if (images.Rows != VaeConfigSide || images.Cols != VaeConfigSide)
            throw new VaeException($"data file {imagesPath} holds {images.Rows}x{images.Cols} images; Fashion-MNIST's are 28x28");
        if (images.Count != labels.Length)
            throw new VaeException($"{imagesPath} has {images.Count} images but {labelsPath} has {labels.Length} labels; the two files must agree");
        if (expectedCount is int n && images.Count != n)
            throw new VaeException($"{imagesPath} has {images.Count} images; the official split has {n}. Use the official Fashion-MNIST files");
        return new Split(prefix == "t10k" ? "test" : prefix, images.Count, images.Pixels, labels) { ClassNames = ClassNames };
    }

    /// <summary>
    /// Downloads the four files into <paramref name="dir"/>, each to a temporary name, checked against the
    /// published MD5, then renamed: a failed or interrupted download leaves no partial file.
    /// </summary>
    public static string Download(string dir, IProgress<(string File, long Done, long Total)>? progress = null, HttpClient? client = null, string mirror = Mirror)
    {
        Directory.CreateDirectory(dir);
        using var own = client is null ? new HttpClient { Timeout = TimeSpan.FromMinutes(10) } : null;
        var http = client ?? own!;
        foreach (var (file, md5) in Md5)
        {
            string target = Path.Combine(dir, file);
            if (File.Exists(target) && Md5Of(target) == md5) continue;
            string temp = target + ".part";
            try
            {
                using (var response = http.GetAsync(mirror + file, HttpCompletionOption.ResponseHeadersRead).GetAwaiter().GetResult())
                {
                    response.EnsureSuccessStatusCode();
                    long total = response.Content.Headers.ContentLength ?? -1, done = 0;
                    using var source = response.Content.ReadAsStream();
                    using var sink = File.Create(temp);
                    var buffer = new byte[1 << 16];
                    int n;
                    while ((n = source.Read(buffer)) > 0)
                    {
                        sink.Write(buffer, 0, n);
                        done += n;
                        progress?.Report((file, done, total));
                    }
                }
                string got = Md5Of(temp);
                if (got != md5)
                    throw new VaeException($"download of {file} has MD5 {got}, expected {md5}; the mirror or the connection is corrupting it, try again later");
                File.Move(temp, target, overwrite: true);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
            {
                File.Delete(temp);
                throw new VaeException(
                    $"cannot download {file} from {mirror} ({e.Message.TrimEnd('.')}); offline? install Debian's dataset-fashion-mnist " +
                    $"(apt-get install dataset-fashion-mnist) or put the four .gz files in a folder and pass «DataDir» DIR");
            }
            catch
            {
                File.Delete(temp);
                throw;
            }
        }
        return dir;
    }

    /// <summary>Download progress as a line per file at every tenth (for logs; the CLI's terminal view is the same lines).</summary>
    sealed class TenthsLog : IProgress<(string File, long Done, long Total)>
    {
        readonly Action<string> _log;
        string? _file;
        long _lastTenth = -1;
        public TenthsLog(Action<string> log) => _log = log;

        public void Report((string File, long Done, long Total) p)
        {
            if (p.File != _file) { _file = p.File; _lastTenth = -1; }
            long tenth = p.Total > 0 ? p.Done * 10 / p.Total : p.Done >> 22;
            if (tenth == _lastTenth) return;
            _lastTenth = tenth;
            _log(p.Total > 0 ? $"  {p.File}: {p.Done * 100 / p.Total}% of {p.Total / 1e6:F1} MB" : $"  {p.File}: {p.Done / 1e6:F1} MB");
        }
    }

    static string Md5Of(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexStringLower(MD5.HashData(f));
    }
}
