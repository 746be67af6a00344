using System.Net;
using Vae.Gpu.Data;
using Vae.Gpu.Devices;

namespace Vae.Gpu.Tests.Data;

public class IdxTests
{
    static byte[] Pixels(int n) => Enumerable.Range(0, n).Select(i => (byte)(i * 7 % 256)).ToArray();

    [Theory, InlineData(true), InlineData(false)]
    public void ReadsWhatItWrote(bool gzip)
    {
        using var dir = new TempDir();
        string images = dir[gzip ? "i.gz" : "i"], labels = dir[gzip ? "l.gz" : "l"];
        Idx.WriteImages(images, 3, 28, 28, Pixels(3 * 784), gzip);
        Idx.WriteLabels(labels, new byte[] { 4, 0, 9 }, gzip);
        var read = Idx.ReadImages(images);
        Assert.Equal((3, 28, 28), (read.Count, read.Rows, read.Cols));
        Assert.Equal(Pixels(3 * 784), read.Pixels);
        Assert.Equal(new byte[] { 4, 0, 9 }, Idx.ReadLabels(labels));
    }

    [Fact]
    public void EachCorruptionIsRejectedWithAMessageThatNamesTheFileAndTheProblem()
    {
        using var dir = new TempDir();
        // Wrong magic: a label file read as images.
        Idx.WriteLabels(dir["labels"], new byte[20]);
        var e = Assert.Throws<VaeException>(() => Idx.ReadImages(dir["labels"]));
        Assert.Contains("magic number 2049, not 2051", e.Message);
        Assert.Contains(dir["labels"], e.Message);

        // Truncated: the header promises more images than the file holds.
        Idx.WriteImages(dir["full"], 4, 28, 28, Pixels(4 * 784), false);
        File.WriteAllBytes(dir["cut"], File.ReadAllBytes(dir["full"])[..(16 + 3 * 784 + 100)]);
        e = Assert.Throws<VaeException>(() => Idx.ReadImages(dir["cut"]));
        Assert.Contains("truncated", e.Message);

        // A gzip stream cut in the middle.
        Idx.WriteImages(dir["full.gz"], 4, 28, 28, Pixels(4 * 784), true);
        var gz = File.ReadAllBytes(dir["full.gz"]);
        File.WriteAllBytes(dir["cut.gz"], gz[..(gz.Length / 2)]);
        e = Assert.Throws<VaeException>(() => Idx.ReadImages(dir["cut.gz"]));
        Assert.Contains(dir["cut.gz"], e.Message);

        // A label outside 0..9.
        Idx.WriteLabels(dir["badlabel"], new byte[] { 1, 12 });
        Assert.Contains("label 12", Assert.Throws<VaeException>(() => Idx.ReadLabels(dir["badlabel"], maxLabel: 9)).Message);

        // A missing file.
        Assert.Contains("not found", Assert.Throws<VaeException>(() => Idx.ReadImages(dir["absent"])).Message);
    }

    [Fact]
    public void SplitChecksCountsSizesAndAgreement()
    {
        using var dir = new TempDir();
        Idx.WriteImages(dir["t10k-images-idx3-ubyte.gz"], 5, 28, 28, Pixels(5 * 784));
        Idx.WriteLabels(dir["t10k-labels-idx1-ubyte.gz"], new byte[] { 1, 2, 3, 4 });
        Assert.Contains("5 images but", Assert.Throws<VaeException>(() => FashionMnist.LoadSplit(dir.Path, "t10k", null)).Message);

        Idx.WriteLabels(dir["t10k-labels-idx1-ubyte.gz"], new byte[] { 1, 2, 3, 4, 5 });
        Assert.Equal(5, FashionMnist.LoadSplit(dir.Path, "t10k", null).Count);
        Assert.Contains("official split has 10000", Assert.Throws<VaeException>(() => FashionMnist.LoadSplit(dir.Path, "t10k", 10_000)).Message);

        Idx.WriteImages(dir["t10k-images-idx3-ubyte.gz"], 5, 20, 20, Pixels(5 * 400));
        Assert.Contains("20x20", Assert.Throws<VaeException>(() => FashionMnist.LoadSplit(dir.Path, "t10k", null)).Message);
    }

    [Fact]
    public void DataOptionNamesWhatIsMissing()
    {
        using var dir = new TempDir();
        Assert.Contains("no such directory", Assert.Throws<VaeException>(() => FashionMnist.Find(dir["nope"])).Message);
        Idx.WriteLabels(dir["train-labels-idx1-ubyte.gz"], new byte[] { 1 });
        var e = Assert.Throws<VaeException>(() => FashionMnist.Find(dir.Path));
        Assert.Contains("train-images-idx3-ubyte", e.Message);
        Assert.DoesNotContain("train-labels", e.Message);
    }

    sealed class FakeHandler : HttpMessageHandler
    {
        readonly Func<HttpRequestMessage, HttpResponseMessage> _answer;
        public FakeHandler(Func<HttpRequestMessage, HttpResponseMessage> answer) => _answer = answer;
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) => Task.FromResult(_answer(request));
    }

    [Fact]
    public void FailedDownloadsLeaveNoPartialFile()
    {
        using var dir = new TempDir();
        using var offline = new HttpClient(new FakeHandler(_ => throw new HttpRequestException("Name or service not known")));
        var e = Assert.Throws<VaeException>(() => FashionMnist.Download(dir.Path, client: offline));
        Assert.Contains("offline?", e.Message);
        Assert.Contains("pass DataDir", e.Message);
        Assert.Empty(Directory.GetFiles(dir.Path));

        using var corrupting = new HttpClient(new FakeHandler(_ => new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(new byte[] { 1, 2, 3 }) }));
        e = Assert.Throws<VaeException>(() => FashionMnist.Download(dir.Path, client: corrupting));
        Assert.Contains("MD5", e.Message);
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [SkippableFact]
    public void RealFilesHaveTheOfficialSplit()
    {
        var dir = SyntheticData.RealDataDir;
        Skip.If(dir is null, "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist); CI installs it");
        var (train, test) = FashionMnist.Load(dir);
        Assert.Equal(60_000, train.Count);
        Assert.Equal(10_000, test.Count);
        Assert.All(Enumerable.Range(0, 10), label => Assert.Equal(6_000, train.Labels.Count(l => l == label)));
        Assert.All(Enumerable.Range(0, 10), label => Assert.Equal(1_000, test.Labels.Count(l => l == label)));
        Assert.InRange(train.Pixels.Average(p => (double)p), 60, 90); // mean intensity ~72.9 of 255
    }
}
